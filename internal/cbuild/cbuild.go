// Package cbuild compiles the small C programs of ckubelet's images (Kubernetes' pause, the
// iptables mode selector) for a platform with Debian's gcc and cross compilers
// (x86_64-linux-gnu-gcc or the host's gcc, aarch64-linux-gnu-gcc, arm-linux-gnueabihf-gcc),
// reproducibly, and keeps each binary in the cache under a key of everything that makes it.
package cbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/catalog"
)

// cacheSchema changes whenever Build changes how it produces a binary, so old entries are not reused.
const cacheSchema = "cbuild/1"

// cacheKind is the cache kind of compiled C programs: v1/c/<key>/content/<name>.
const cacheKind = "c"

// Program is one C program: a single source file.
type Program struct {
	Name   string   // the binary's file name, e.g. "pause"
	Source []byte   // the C source
	Flags  []string // compiler flags, e.g. -Os -Wall -Werror -DVERSION=…
	// Static links libc in (pause runs in an image with nothing else). Otherwise the program
	// links against libc.so.6 alone, which the image's userland provides.
	Static bool
}

// toolchain is what builds for one platform: Debian's gcc for its GNU triplet.
type toolchain struct {
	triple  string // the compiler is "<triple>-gcc", binutils "<triple>-*"
	pkgs    string // Debian packages providing it, for the error message
	machine elf.Machine
	class   elf.Class
}

func toolchainFor(p catalog.Platform) (toolchain, bool) {
	triple := p.Triplet()
	if triple == "" {
		return toolchain{}, false
	}
	machine, class := p.ELF()
	pkgs := "gcc-" + triple + " libc6-dev-" + p.DebianArch() + "-cross"
	if p.GOARCH() == runtime.GOARCH {
		pkgs = "gcc libc6-dev"
	}
	return toolchain{triple, pkgs, machine, class}, true
}

// Build compiles prog for the platform, or finds it in the cache under cacheDir. The binary is
// stripped, reproducible (same bytes for the same inputs) and checked to be an executable for the
// platform, static or linked against libc alone as prog says, before it is cached. The returned
// path is in the cache: never modify it.
func Build(ctx context.Context, cacheDir string, platform catalog.Platform, prog Program) (path string, cached bool, err error) {
	tc, ok := toolchainFor(platform)
	if !ok {
		return "", false, fmt.Errorf("%s: unsupported platform %s", prog.Name, platform)
	}
	cc, err := findCompiler(ctx, tc, platform, prog)
	if err != nil {
		return "", false, err
	}
	strip := tc.triple + "-strip"
	// The build directory differs per run and is mapped away, so the key sees a placeholder.
	key, err := cacheKey(ctx, cc, strip, prog, flags(prog, "BUILD"), platform)
	if err != nil {
		return "", false, err
	}
	c := cache.Cache{Dir: cacheDir}
	dir, ok, err := c.Get(cacheKind, key)
	if err != nil {
		return "", false, err
	}
	if ok {
		return filepath.Join(dir, prog.Name), true, nil
	}
	dir, err = c.Put(cacheKind, key, func(dir string) error {
		if err := compile(ctx, dir, cc, strip, prog); err != nil {
			return fmt.Errorf("%s for %s: %w", prog.Name, platform, err)
		}
		if err := verify(filepath.Join(dir, prog.Name), tc, prog.Static); err != nil {
			return fmt.Errorf("%s for %s: %w", prog.Name, platform, err)
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return filepath.Join(dir, prog.Name), false, nil
}

// compile builds dir/NAME from the source, in dir, which holds nothing else afterwards.
func compile(ctx context.Context, dir, cc, strip string, prog Program) error {
	env := compilerEnv(dir)
	src := prog.Name + ".c"
	if err := os.WriteFile(filepath.Join(dir, src), prog.Source, 0o644); err != nil {
		return err
	}
	// The source goes in under a fixed relative name, so no path of this machine can reach the binary.
	args := append(flags(prog, dir), "-o", prog.Name, src)
	if err := run(ctx, dir, env, cc, args...); err != nil {
		return fmt.Errorf("compiling: %w", err)
	}
	if err := run(ctx, dir, env, strip, prog.Name); err != nil {
		return fmt.Errorf("stripping: %w", err)
	}
	// The mode is fixed rather than left to the umask, which differs between machines.
	return errors.Join(os.Chmod(filepath.Join(dir, prog.Name), 0o755), os.Remove(filepath.Join(dir, src)))
}

// flags are the compiler flags for a build in dir.
func flags(prog Program, dir string) []string {
	f := slices.Clone(prog.Flags)
	if prog.Static {
		f = append(f, "-static")
	}
	// Reproducibility guards: fail on __DATE__/__TIME__ (with -Werror), and map the build
	// directory away should debug info or __FILE__ ever appear.
	return append(f, "-Wdate-time", "-ffile-prefix-map="+dir+"=.")
}

// findCompiler picks <triple>-gcc, or on a host of the same architecture plain gcc, and checks
// that it targets the platform and has the libc prog links with, so failures say which package
// is missing.
func findCompiler(ctx context.Context, tc toolchain, p catalog.Platform, prog Program) (string, error) {
	candidates := []string{tc.triple + "-gcc"}
	if p.GOARCH() == runtime.GOARCH {
		candidates = append(candidates, "gcc")
	}
	libc := "libc.so"
	if prog.Static {
		libc = "libc.a"
	}
	for _, c := range candidates {
		cc, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		machine, err := output(ctx, cc, "-dumpmachine")
		if err != nil || machine != tc.triple {
			continue // e.g. a host gcc built for another target
		}
		// gcc echoes the bare name back when it has no such file.
		if path, err := output(ctx, cc, "-print-file-name="+libc); err != nil || !filepath.IsAbs(path) {
			return "", fmt.Errorf("%s for %s needs %s for %s (%s): run hack/setup.sh", prog.Name, p, libc, tc.triple, tc.pkgs)
		}
		if _, err := exec.LookPath(tc.triple + "-strip"); err != nil {
			return "", fmt.Errorf("%s for %s needs %s-strip: run hack/setup.sh", prog.Name, p, tc.triple)
		}
		return cc, nil
	}
	return "", fmt.Errorf("%s for %s needs %s-gcc: run hack/setup.sh", prog.Name, p, tc.triple)
}

// fixedEnv is all the compiler sees besides PATH and TMPDIR: gcc reads CPATH, LIBRARY_PATH,
// GCC_EXEC_PREFIX and more, which would change the binary without changing the cache key.
var fixedEnv = []string{"LC_ALL=C", "SOURCE_DATE_EPOCH=0"}

// compilerEnv adds PATH (it only chooses the tools, whose versions are in the key) and a private TMPDIR.
func compilerEnv(tmp string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}, fixedEnv...)
}

// cacheKey hashes everything that determines the binary. The libc linked in (or its start
// files and stubs, for a dynamic program) is hashed by content, because a Debian libc update
// changes the binary but not the compiler's version string.
func cacheKey(ctx context.Context, cc, strip string, prog Program, flags []string, p catalog.Platform) (string, error) {
	ccVersion, err := output(ctx, cc, "--version")
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", cc, err)
	}
	stripVersion, err := output(ctx, strip, "--version")
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", strip, err)
	}
	libs := []string{"libc.a"}
	if !prog.Static {
		libs = []string{"libc.so.6", "libc_nonshared.a", "Scrt1.o"}
	}
	var libSums []string
	for _, l := range libs {
		path, err := output(ctx, cc, "-print-file-name="+l)
		if err != nil {
			return "", err
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", l, err)
		}
		libSums = append(libSums, l+" "+sum)
	}
	srcSum := sha256.Sum256(prog.Source)
	h := sha256.New()
	// A JSON-encoded struct keeps the key unambiguous and stable.
	err = json.NewEncoder(h).Encode(struct {
		Schema, Name, Platform, Source string
		CCVersion, StripVersion        string
		Libc, Flags, Env               []string
	}{cacheSchema, prog.Name, p.String(), hex.EncodeToString(srcSum[:]), ccVersion, stripVersion,
		libSums, flags, fixedEnv})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verify checks that path is an executable for the toolchain's machine: static (no PT_INTERP,
// no DT_NEEDED), or needing libc.so.6 alone.
func verify(path string, tc toolchain, static bool) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != tc.machine || f.Class != tc.class {
		return fmt.Errorf("%s is %s %s, want %s %s", path, f.Class, f.Machine, tc.class, tc.machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is %s, not an executable", path, f.Type)
	}
	interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: reading DT_NEEDED: %w", path, err)
	}
	switch {
	case static && interp:
		return fmt.Errorf("%s is dynamically linked (has an interpreter)", path)
	case static && len(libs) > 0:
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	case !static && !interp:
		return fmt.Errorf("%s has no interpreter, want one linked against libc.so.6", path)
	case !static && !slices.Equal(libs, []string{"libc.so.6"}):
		return fmt.Errorf("%s needs shared libraries %v, want libc.so.6 alone", path, libs)
	}
	return nil
}

// run runs a tool, returning its output in the error when it fails (compiler diagnostics).
func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return nil
}

// output runs a query such as `gcc -dumpmachine` and returns its trimmed stdout.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
