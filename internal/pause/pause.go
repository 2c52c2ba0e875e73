// Package pause builds Kubernetes' pause binary (the sandbox container's PID 1) from the C source in
// the k8s.io/kubernetes module zip, so air-gapped nodes need not pull registry.k8s.io/pause.
// It reproduces build/pause/Makefile: `$(TRIPLE)-gcc -Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV)`
// then `$(TRIPLE)-strip`, with Debian's (cross) compilers instead of the kube-cross image.
package pause

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
	"regexp"
	"runtime"
	"strings"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Platform is the platform a pause binary is built for.
type Platform = catalog.Platform

// Paths inside a Kubernetes source tree.
const (
	makefilePath = "build/pause/Makefile"
	sourcePath   = "build/pause/linux/pause.c"
)

// cacheSchema changes whenever Build changes how it produces the binary, so old entries are not reused.
const cacheSchema = "pause/1"

// cacheKind is the cache kind of pause binaries: v1/pause/<key>/content/pause.
const cacheKind = "pause"

// toolchain is what builds pause for one GOARCH.
type toolchain struct {
	triple  string // Debian's GNU triple: the compiler is "<triple>-gcc", binutils "<triple>-*"
	pkgs    string // Debian packages providing it, for the error message
	machine elf.Machine
	class   elf.Class
}

var toolchains = map[string]toolchain{
	"amd64": {"x86_64-linux-gnu", "gcc libc6-dev", elf.EM_X86_64, elf.ELFCLASS64},
	"arm64": {"aarch64-linux-gnu", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross", elf.EM_AARCH64, elf.ELFCLASS64},
	// Debian armhf's gcc defaults to ARMv7-A + VFPv3-D16, hard float: exactly OCI linux/arm/v7.
	"arm": {"arm-linux-gnueabihf", "gcc-arm-linux-gnueabihf libc6-dev-armhf-cross", elf.EM_ARM, elf.ELFCLASS32},
}

var (
	// TAG ?= 3.10.2 (upstream uses ?= so `make TAG=…` can override; accept any assignment).
	tagLine = regexp.MustCompile(`(?m)^[ \t]*TAG[ \t]*[?:]?=[ \t]*(\S+)[ \t]*$`)
	// The tag ends up in a -D flag and an image tag: keep it to characters valid in both.
	validTag = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]*$`)
)

// Tag reads the pause image tag (e.g. "3.10.1") from build/pause/Makefile of a Kubernetes source tree.
func Tag(k8sDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(k8sDir, makefilePath))
	if err != nil {
		return "", fmt.Errorf("pause tag: %w", err)
	}
	m := tagLine.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("pause tag: no TAG assignment in %s", filepath.Join(k8sDir, makefilePath))
	}
	tag := string(m[1])
	if !validTag.MatchString(tag) {
		return "", fmt.Errorf("pause tag: malformed TAG %q in %s", tag, filepath.Join(k8sDir, makefilePath))
	}
	return tag, nil
}

// Version is the string `pause -v` prints after "pause.c ". Upstream's is v$(TAG)-$(REV), with
// REV the git revision pause happened to be built from; ours is v$(TAG) alone, so that every
// Kubernetes release with the same pause source gives the same pause binary and the one image
// pause:$(TAG) names (two would be refused when a build covers several Kubernetes versions).
func Version(k8sDir string) (string, error) {
	tag, err := Tag(k8sDir)
	if err != nil {
		return "", err
	}
	return "v" + tag, nil
}

// Build compiles pause.c statically for the platform with Debian's cross compilers
// (x86_64-linux-gnu-gcc or gcc on amd64 hosts, aarch64-linux-gnu-gcc, arm-linux-gnueabihf-gcc), caching the result under
// cacheDir keyed on source hash + compiler version + flags + platform. The output is reproducible
// (same bytes for the same inputs) and stripped, and checked to be a static executable for the
// platform before it is cached. The returned path is in the cache: never modify it.
func Build(ctx context.Context, k8sDir, cacheDir string, platform Platform) (path string, cached bool, err error) {
	tc, ok := toolchains[platform.GOARCH()]
	if platform.OS != "linux" || !ok || (platform.Arch == "arm" && platform.Variant != "v7") ||
		(platform.Arch != "arm" && platform.Variant != "") {
		return "", false, fmt.Errorf("pause: unsupported platform %s", platform)
	}
	cc, err := findCompiler(ctx, tc, platform)
	if err != nil {
		return "", false, err
	}
	src, err := os.ReadFile(filepath.Join(k8sDir, sourcePath))
	if err != nil {
		return "", false, fmt.Errorf("pause: %w", err)
	}
	version, err := Version(k8sDir)
	if err != nil {
		return "", false, err
	}
	strip := tc.triple + "-strip"
	// The build directory differs per run and is mapped away, so the key sees a placeholder.
	key, err := cacheKey(ctx, cc, strip, src, cflags(version, "BUILD"), platform)
	if err != nil {
		return "", false, err
	}
	c := cache.Cache{Dir: cacheDir}
	dir, ok, err := c.Get(cacheKind, key)
	if err != nil {
		return "", false, err
	}
	if ok {
		return filepath.Join(dir, "pause"), true, nil
	}
	dir, err = c.Put(cacheKind, key, func(dir string) error {
		if err := compile(ctx, dir, cc, strip, src, version); err != nil {
			return fmt.Errorf("pause for %s: %w", platform, err)
		}
		if err := verify(filepath.Join(dir, "pause"), tc); err != nil {
			return fmt.Errorf("pause for %s: %w", platform, err)
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return filepath.Join(dir, "pause"), false, nil
}

// compile builds dir/pause from src, in dir, which holds nothing else afterwards.
func compile(ctx context.Context, dir, cc, strip string, src []byte, version string) error {
	env := compilerEnv(dir)
	if err := os.WriteFile(filepath.Join(dir, "pause.c"), src, 0o644); err != nil {
		return err
	}
	// The source goes in under a fixed relative name, so no path of this machine can reach the binary.
	args := append(cflags(version, dir), "-o", "pause", "pause.c")
	if err := run(ctx, dir, env, cc, args...); err != nil {
		return fmt.Errorf("compiling: %w", err)
	}
	if err := run(ctx, dir, env, strip, "pause"); err != nil {
		return fmt.Errorf("stripping: %w", err)
	}
	// The mode is fixed rather than left to the umask, which differs between machines.
	return errors.Join(os.Chmod(filepath.Join(dir, "pause"), 0o755), os.Remove(filepath.Join(dir, "pause.c")))
}

// cflags are the compiler flags for a build in dir.
func cflags(version, dir string) []string {
	return []string{
		// Upstream's CFLAGS, verbatim.
		"-Os", "-Wall", "-Werror", "-static", "-DVERSION=" + version,
		// Reproducibility guards that change nothing today: fail on __DATE__/__TIME__ (with
		// -Werror), and map the build directory away should debug info or __FILE__ ever appear.
		"-Wdate-time", "-ffile-prefix-map=" + dir + "=.",
	}
}

// findCompiler picks <triple>-gcc, or on a host of the same architecture plain gcc, and checks
// that it targets the platform and has a static libc, so failures say which package is missing.
func findCompiler(ctx context.Context, tc toolchain, p Platform) (string, error) {
	missing := fmt.Errorf("pause for %s needs %s-gcc: run hack/setup.sh", p, tc.triple)
	candidates := []string{tc.triple + "-gcc"}
	if p.GOARCH() == runtime.GOARCH {
		candidates = append(candidates, "gcc")
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
		if libc, err := output(ctx, cc, "-print-file-name=libc.a"); err != nil || !filepath.IsAbs(libc) {
			return "", fmt.Errorf("pause for %s needs a static libc for %s (%s): run hack/setup.sh", p, tc.triple, tc.pkgs)
		}
		if _, err := exec.LookPath(tc.triple + "-strip"); err != nil {
			return "", fmt.Errorf("pause for %s needs %s-strip: run hack/setup.sh", p, tc.triple)
		}
		return cc, nil
	}
	return "", missing
}

// fixedEnv is all the compiler sees besides PATH and TMPDIR: gcc reads CPATH, LIBRARY_PATH,
// GCC_EXEC_PREFIX and more, which would change the binary without changing the cache key.
var fixedEnv = []string{"LC_ALL=C", "SOURCE_DATE_EPOCH=0"}

// compilerEnv adds PATH (it only chooses the tools, whose versions are in the key) and a private TMPDIR.
func compilerEnv(tmp string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + tmp}, fixedEnv...)
}

// cacheKey hashes everything that determines the binary. The static libc is hashed by content
// because a Debian libc update changes the binary but not the compiler's version string.
func cacheKey(ctx context.Context, cc, strip string, src []byte, flags []string, p Platform) (string, error) {
	ccVersion, err := output(ctx, cc, "--version")
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", cc, err)
	}
	stripVersion, err := output(ctx, strip, "--version")
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", strip, err)
	}
	libcPath, err := output(ctx, cc, "-print-file-name=libc.a")
	if err != nil {
		return "", err
	}
	libc, err := fileSHA256(libcPath)
	if err != nil {
		return "", fmt.Errorf("hashing static libc: %w", err)
	}
	srcSum := sha256.Sum256(src)
	h := sha256.New()
	// A JSON-encoded struct keeps the key unambiguous and stable.
	err = json.NewEncoder(h).Encode(struct {
		Schema, Platform, Source      string
		CCVersion, StripVersion, Libc string
		Flags, Env                    []string
	}{cacheSchema, p.String(), hex.EncodeToString(srcSum[:]), ccVersion, stripVersion, libc,
		flags, fixedEnv})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verify checks that path is a static executable for the toolchain's machine: what the pause
// image needs, as its rootfs holds nothing else. Static means no PT_INTERP and no DT_NEEDED.
func verify(path string, tc toolchain) error {
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
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an interpreter)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: reading DT_NEEDED: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
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
