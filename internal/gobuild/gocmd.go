// Package gobuild compiles Go components (kubelet and friends) from sources fetched through the Go
// module proxy. The go command does the fetching, so every module is verified against go.sum and the
// checksum database exactly as in any Go build.
package gobuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Go runs the go command.
type Go struct {
	// Verbose, if set, receives the go command's own output as it runs.
	Verbose io.Writer
}

// run executes `go args...` in dir with extra environment, returning stdout (also on failure,
// where some go subcommands report errors as JSON). On failure the error
// carries the last lines of the go command's stderr, which is where it says what went wrong.
func (g *Go) run(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if g.Verbose != nil {
		cmd.Stderr = io.MultiWriter(&stderr, g.Verbose)
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return stdout.Bytes(), fmt.Errorf("go %s: %s", strings.Join(args, " "), lastLines(stderr.String(), 8, err))
	}
	return stdout.Bytes(), nil
}

func lastLines(s string, n int, fallback error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return fallback.Error()
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// moduleEnv runs the go command outside any module or workspace of the caller's.
var moduleEnv = []string{"GO111MODULE=on", "GOWORK=off", "GOFLAGS=-mod=mod"}

// ListVersions lists the versions of a module the Go module proxy serves.
func (g *Go) ListVersions(ctx context.Context, module string) ([]string, error) {
	out, err := g.run(ctx, os.TempDir(), moduleEnv, "list", "-m", "-versions", "-json", module)
	if err != nil {
		return nil, fmt.Errorf("listing versions of %s on the Go module proxy (check GOPROXY and the network): %w", module, err)
	}
	var m struct{ Versions []string }
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", module, err)
	}
	return m.Versions, nil
}

// Module is a module version downloaded and verified into the module cache.
type Module struct {
	Path, Version string
	Dir           string // extracted, read-only source in the module cache
	Sum           string // h1: hash, verified against the checksum database
	GoModSum      string
	Time          string // publication time reported by the proxy (RFC 3339)
	Info          string // path of the .info file holding Time
}

// Download fetches path@version through the module proxy; the go command verifies it.
func (g *Go) Download(ctx context.Context, path, version string) (*Module, error) {
	out, err := g.run(ctx, os.TempDir(), moduleEnv, "mod", "download", "-json", path+"@"+version)
	// go mod download -json reports per-module errors in its JSON, with exit status 1.
	var m struct {
		Module
		Error string
	}
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != "" {
		return nil, fmt.Errorf("downloading %s@%s: %s", path, version, m.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("downloading %s@%s: %w", path, version, err)
	}
	info, err := os.ReadFile(m.Info)
	if err != nil {
		return nil, err
	}
	var i struct{ Time string }
	if err := json.Unmarshal(info, &i); err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.Info, err)
	}
	m.Time = i.Time
	return &m.Module, nil
}
