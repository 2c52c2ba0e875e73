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

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Target is what a binary is built for.
type Target struct {
	Platform catalog.Platform
	// Cgo builds with a C toolchain for the target, as upstream builds kubelet; otherwise the
	// binary is static and needs nothing but Go.
	Cgo bool
}

// CC returns the C compiler for the target, or "" for a static build.
func (t Target) CC() (string, error) {
	if !t.Cgo {
		return "", nil
	}
	// Debian's cross compilers are named by the target's GNU triplet.
	cc := t.Platform.Triplet() + "-gcc"
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
	_, err := g.runSource(ctx, src, src.env(nil), "list", "-deps", "-tags", strings.Join(src.Tags, ","), src.pkgPath(pkg))
	if err != nil {
		return fmt.Errorf("fetching dependencies of %s@%s: %w", src.Module.Path, src.Module.Version, err)
	}
	return nil
}

// binKind is the cache kind of compiled binaries: v1/bin/<key>/content/<name>.
const binKind = "bin"

// Build compiles pkg (e.g. "./cmd/kubelet", or "." for the module itself) of src for the target: -trimpath, stripped, with the
// source's tags and version stamp. Results are cached under cacheDir keyed on every input that changes
// the output, so an unchanged rebuild runs no compiler at all. Concurrent builds, in one process
// or several, may share cacheDir: each compiles into a directory of its own.
func (g *Go) Build(ctx context.Context, cacheDir string, src *Source, pkg string, t Target) (Binary, error) {
	return g.build(ctx, cacheDir, src, pkg, t, "build", BinaryName(src, pkg))
}

// BuildTest compiles the tests of pkg into one binary, as `go test -c` does (upstream's e2e.test
// is the test binary of k8s.io/kubernetes/test/e2e), cached like Build. Its name is the
// package's last element with ".test".
func (g *Go) BuildTest(ctx context.Context, cacheDir string, src *Source, pkg string, t Target) (Binary, error) {
	return g.build(ctx, cacheDir, src, pkg, t, "test", BinaryName(src, pkg)+".test")
}

// build runs go build, or go test -c (cmd "test"), for Build and BuildTest.
func (g *Go) build(ctx context.Context, cacheDir string, src *Source, pkg string, t Target, cmd, name string) (Binary, error) {
	cc, err := t.CC()
	if err != nil {
		return Binary{}, err
	}
	env, args := src.buildCommand(t, cc)
	if cmd == "test" {
		args = append([]string{"test", "-c"}, args[1:]...)
	}
	pkg = src.pkgPath(pkg)
	key, err := g.cacheKey(ctx, src, env, args, pkg, cc)
	if err != nil {
		return Binary{}, err
	}
	c := cache.Cache{Dir: cacheDir}
	dir, ok, err := c.Get(binKind, key)
	if err != nil {
		return Binary{}, err
	}
	if ok {
		return Binary{Name: name, Path: filepath.Join(dir, name), Cached: true}, nil
	}
	dir, err = c.Put(binKind, key, func(dir string) error {
		if _, err := g.runSource(ctx, src, env, append(args, "-o", filepath.Join(dir, name), pkg)...); err != nil {
			return fmt.Errorf("compiling %s for %s: %w", name, t.Platform, err)
		}
		return nil
	})
	if err != nil {
		return Binary{}, err
	}
	return Binary{Name: name, Path: filepath.Join(dir, name)}, nil
}

// buildCommand is the environment and arguments of go build for the target, without -o and
// the package.
func (src *Source) buildCommand(t Target, cc string) (env, args []string) {
	env = src.env([]string{
		"GOOS=" + t.Platform.OS,
		"GOARCH=" + t.Platform.GOARCH(),
		"GOARM=" + t.Platform.GOARM(),
		"CGO_ENABLED=" + map[bool]string{true: "1", false: "0"}[t.Cgo],
		"CC=" + cc,
	})
	args = []string{"build", "-trimpath", "-buildvcs=false",
		"-tags", strings.Join(src.Tags, ","),
		"-ldflags", strings.Join(append([]string{"-s", "-w"}, src.LDFlags...), " "),
	}
	return env, args
}

// BinaryName is the name go build gives pkg's binary: its last path element, or the module's
// for ".".
func BinaryName(src *Source, pkg string) string {
	if pkg == "." {
		return path.Base(src.Module.Path)
	}
	return path.Base(pkg)
}

// pkgPath is pkg ("./cmd/kubelet", or "." for the module itself) as the go command names it
// from src.Dir.
func (src *Source) pkgPath(pkg string) string {
	switch {
	case src.pkgPrefix == "":
		return pkg
	case pkg == ".":
		return src.pkgPrefix
	case strings.HasPrefix(pkg, "./"):
		return src.pkgPrefix + "/" + strings.TrimPrefix(pkg, "./")
	}
	return pkg // an import path already
}

// env is the environment for the go command working on this source: our go.mod, no workspace,
// modules resolved (and verified) as needed, vendor/ of the module zip ignored; the module
// cache writable, so that the cache directories a local module's go command fills can be
// removed.
func (src *Source) env(extra []string) []string {
	return append(append([]string{
		"GO111MODULE=on", "GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw -modfile=" + src.ModFile,
	}, src.extraEnv...), extra...)
}

// buildVars are the go command's settings that change what it builds, read with go env in the
// build's environment so that `go env -w` counts as well as the environment. Some matter for
// one GOARCH or with cgo only; keying on all of them costs a rebuild when an irrelevant one
// changes, never a stale binary. GOVERSION is the toolchain the go command selects for the
// module after GOTOOLCHAIN and go.mod's go and toolchain lines. GOROOT is left out: with
// -trimpath, one Go release builds the same bytes wherever it is installed.
var buildVars = []string{
	"GOOS", "GOARCH", "GOAMD64", "GOARM", "GOARM64", "GO386", "GORISCV64", "GOPPC64", "GOMIPS", "GOMIPS64", "GOWASM",
	"GOEXPERIMENT", "GOFLAGS", "GOFIPS140", "GOVERSION",
	"CGO_ENABLED", "CC", "CXX", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS", "PKG_CONFIG",
}

// cacheKey hashes everything that determines the binary: the verified module, our go.mod, the
// go command's effective settings for the build, our environment, the flags and the C compiler.
func (g *Go) cacheKey(ctx context.Context, src *Source, env, args []string, pkg, cc string) (string, error) {
	out, err := g.run(ctx, src.Dir, env, append([]string{"env", "-json"}, buildVars...)...)
	if err != nil {
		return "", err
	}
	settings := map[string]string{}
	if err := json.Unmarshal(out, &settings); err != nil {
		return "", fmt.Errorf("reading the go command's settings: %w", err)
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
	// Encoding a struct keeps the key stable and unambiguous; maps are encoded sorted by key.
	err = json.NewEncoder(h).Encode(struct {
		Module, Version, Sum string
		ModFile              []byte
		Settings             map[string]string
		Env, Args            []string
		Pkg, CCVersion       string
	}{src.Module.Path, src.Module.Version, src.Module.Sum, modFile, settings,
		env, args, pkg, string(ccVersion)})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
