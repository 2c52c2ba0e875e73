package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Target is what a binary is built for.
type Target struct {
	Platform catalog.Platform
	// Cgo builds with a C toolchain for the target, as upstream builds kubelet; otherwise the
	// binary is static and needs nothing but Go.
	Cgo bool
}

// crossCompilers are Debian's cross gcc packages' commands, per target GOARCH.
var crossCompilers = map[string]string{
	"amd64": "x86_64-linux-gnu-gcc",
	"arm64": "aarch64-linux-gnu-gcc",
	"arm":   "arm-linux-gnueabihf-gcc",
}

// CC returns the C compiler for the target, or "" for a static build.
func (t Target) CC() (string, error) {
	if !t.Cgo {
		return "", nil
	}
	cc := crossCompilers[t.Platform.GOARCH()]
	if t.Platform.GOARCH() == runtime.GOARCH {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return "", fmt.Errorf("--cgo build for %s needs %s: run hack/setup.sh", t.Platform, cc)
	}
	return cc, nil
}

// Binary is a built executable in the build cache.
type Binary struct {
	Name   string // "kubelet"
	Path   string // in the cache; never modify it
	Cached bool   // true when nothing had to be compiled
}

// Fetch downloads (and verifies) every module the package needs for the target, so that the
// compile step that follows does no network I/O.
func (g *Go) Fetch(ctx context.Context, src *Source, pkg string) error {
	_, err := g.run(ctx, src.Module.Dir, src.env(nil), "list", "-deps", "-tags", strings.Join(src.Tags, ","), pkg)
	if err != nil {
		return fmt.Errorf("fetching dependencies of %s@%s: %w", src.Module.Path, src.Module.Version, err)
	}
	return nil
}

// Build compiles pkg (e.g. "./cmd/kubelet", or "." for the module itself) of src for the target: -trimpath, stripped, with the
// source's tags and version stamp. Results are cached under cacheDir keyed on every input that changes
// the output, so an unchanged rebuild runs no compiler at all.
func (g *Go) Build(ctx context.Context, cacheDir string, src *Source, pkg string, t Target) (Binary, error) {
	name := BinaryName(src, pkg)
	cc, err := t.CC()
	if err != nil {
		return Binary{}, err
	}
	env := src.env([]string{
		"GOOS=" + t.Platform.OS,
		"GOARCH=" + t.Platform.GOARCH(),
		"GOARM=" + t.Platform.GOARM(),
		"CGO_ENABLED=" + map[bool]string{true: "1", false: "0"}[t.Cgo],
		"CC=" + cc,
	})
	args := []string{"build", "-trimpath", "-buildvcs=false",
		"-tags", strings.Join(src.Tags, ","),
		"-ldflags", strings.Join(append([]string{"-s", "-w"}, src.LDFlags...), " "),
	}
	key, err := g.cacheKey(ctx, src, env, args, pkg, cc)
	if err != nil {
		return Binary{}, err
	}
	out := filepath.Join(cacheDir, "bin", key, name)
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return Binary{Name: name, Path: out, Cached: true}, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return Binary{}, err
	}
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	if _, err := g.run(ctx, src.Module.Dir, env, append(args, "-o", tmp, pkg)...); err != nil {
		return Binary{}, fmt.Errorf("compiling %s for %s: %w", name, t.Platform, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return Binary{}, err
	}
	return Binary{Name: name, Path: out}, nil
}

// BinaryName is the name go build gives pkg's binary: its last path element, or the module's
// for ".".
func BinaryName(src *Source, pkg string) string {
	if pkg == "." {
		return path.Base(src.Module.Path)
	}
	return path.Base(pkg)
}

// env is the environment for the go command working on this source: our go.mod, no workspace,
// modules resolved (and verified) as needed, vendor/ of the module zip ignored.
func (src *Source) env(extra []string) []string {
	return append([]string{
		"GO111MODULE=on", "GOWORK=off",
		"GOFLAGS=-mod=mod -modfile=" + src.ModFile,
	}, extra...)
}

// cacheKey hashes everything that determines the binary: the verified module, our go.mod, the Go
// toolchain the go command selects for it, the environment, the flags and the C compiler.
func (g *Go) cacheKey(ctx context.Context, src *Source, env, args []string, pkg, cc string) (string, error) {
	goVersion, err := g.run(ctx, src.Module.Dir, env, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	modFile, err := os.ReadFile(src.ModFile)
	if err != nil {
		return "", err
	}
	var ccVersion []byte
	if cc != "" {
		if ccVersion, err = exec.CommandContext(ctx, cc, "--version").Output(); err != nil {
			return "", fmt.Errorf("%s --version: %w", cc, err)
		}
	}
	h := sha256.New()
	// Encoding a struct keeps the key stable and unambiguous.
	err = json.NewEncoder(h).Encode(struct {
		Module, Version, Sum string
		ModFile              []byte
		GoVersion            string
		Env, Args            []string
		Pkg, CCVersion       string
	}{src.Module.Path, src.Module.Version, src.Module.Sum, modFile, strings.TrimSpace(string(goVersion)),
		env, args, pkg, string(ccVersion)})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
