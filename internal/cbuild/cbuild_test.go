package cbuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/testenv"
)

var (
	amd64 = catalog.Platform{OS: "linux", Arch: "amd64"}
	arm64 = catalog.Platform{OS: "linux", Arch: "arm64"}
	armv7 = catalog.Platform{OS: "linux", Arch: "arm", Variant: "v7"}
)

const hello = `#include <stdio.h>
int main(int argc, char **argv) { printf("hello %s\n", argc > 1 ? argv[1] : "nobody"); return 0; }
`

func program(static bool) Program {
	return Program{Name: "hello", Source: []byte(hello), Flags: []string{"-Os", "-Wall", "-Werror"}, Static: static}
}

// build is Build, turning a missing toolchain into testenv.Missing.
func build(t *testing.T, cacheDir string, p catalog.Platform, prog Program) (string, bool) {
	t.Helper()
	bin, cached, err := Build(context.Background(), cacheDir, p, prog)
	if err != nil {
		if strings.Contains(err.Error(), "run hack/setup.sh") {
			testenv.Missing(t, "%v", err)
		}
		t.Fatal(err)
	}
	return bin, cached
}

func TestBuildErrors(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no compiler at all
	for _, tc := range []struct {
		p    catalog.Platform
		want string
	}{
		{arm64, "hello for linux/arm64 needs aarch64-linux-gnu-gcc: run hack/setup.sh"},
		{armv7, "hello for linux/arm/v7 needs arm-linux-gnueabihf-gcc: run hack/setup.sh"},
		{amd64, "hello for linux/amd64 needs x86_64-linux-gnu-gcc: run hack/setup.sh"},
		{catalog.Platform{OS: "linux", Arch: "arm", Variant: "v6"}, "hello: unsupported platform linux/arm/v6"},
		{catalog.Platform{OS: "windows", Arch: "amd64"}, "hello: unsupported platform windows/amd64"},
	} {
		t.Run(tc.p.String(), func(t *testing.T) {
			_, _, err := Build(context.Background(), t.TempDir(), tc.p, program(true))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBuild compiles a program static and dynamic for every platform: cached, reproducible from
// another cache, stripped, for the platform's machine, and it runs there (under qemu-user, with
// the cross libc for a dynamic one).
func TestBuild(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("cross-compiles on linux/amd64")
	}
	for _, tc := range []struct {
		p       catalog.Platform
		machine elf.Machine
		class   elf.Class
	}{
		{amd64, elf.EM_X86_64, elf.ELFCLASS64},
		{arm64, elf.EM_AARCH64, elf.ELFCLASS64},
		{armv7, elf.EM_ARM, elf.ELFCLASS32},
		{catalog.Platform{OS: "linux", Arch: "riscv64"}, elf.EM_RISCV, elf.ELFCLASS64},
		{catalog.Platform{OS: "linux", Arch: "ppc64le"}, elf.EM_PPC64, elf.ELFCLASS64},
		{catalog.Platform{OS: "linux", Arch: "s390x"}, elf.EM_S390, elf.ELFCLASS64},
	} {
		for _, static := range []bool{true, false} {
			name := strings.ReplaceAll(tc.p.String(), "/", "-") + map[bool]string{true: "-static", false: "-dynamic"}[static]
			t.Run(name, func(t *testing.T) {
				cacheA := t.TempDir()
				bin, cached := build(t, cacheA, tc.p, program(static))
				if cached {
					t.Error("first build in an empty cache reported cached")
				}
				if again, cached := build(t, cacheA, tc.p, program(static)); !cached || again != bin {
					t.Errorf("second build: %q cached=%v; want %q cached", again, cached, bin)
				}
				other, _ := build(t, t.TempDir(), tc.p, program(static))
				a, _ := os.ReadFile(bin)
				b, _ := os.ReadFile(other)
				if len(a) == 0 || !bytes.Equal(a, b) {
					t.Errorf("two builds differ: %d vs %d bytes", len(a), len(b))
				}
				if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("mode %v, %v; want 0755", fi.Mode(), err)
				}
				f, err := elf.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Machine != tc.machine || f.Class != tc.class {
					t.Errorf("ELF %v %v, want %v %v", f.Class, f.Machine, tc.class, tc.machine)
				}
				if f.Section(".symtab") != nil || f.Section(".debug_info") != nil {
					t.Error("not stripped")
				}
				t.Logf("%d bytes", len(a))

				argv := []string{bin, "world"}
				if tc.p.GOARCH() != runtime.GOARCH {
					// The cross libc Debian installs in /usr/<triplet> stands in for the image's.
					q, _ := tc.p.Qemu()
					argv = append([]string{testenv.LookPath(t, q), "-L", "/usr/" + tc.p.Triplet()}, argv...)
				}
				out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
				if err != nil || string(out) != "hello world\n" {
					t.Errorf("%v: %q, %v", argv, out, err)
				}
			})
		}
	}
}

// TestStaticOrNot checks the ELF check itself: a static program is refused where one linked
// against libc is wanted, and the other way round.
func TestStaticOrNot(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("builds linux/amd64 programs")
	}
	static, _ := build(t, t.TempDir(), amd64, program(true))
	dynamic, _ := build(t, t.TempDir(), amd64, program(false))
	tc, _ := toolchainFor(amd64)
	if err := verify(static, tc, false); err == nil || !strings.Contains(err.Error(), "no interpreter") {
		t.Errorf("static program as a dynamic one: %v", err)
	}
	if err := verify(dynamic, tc, true); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic program as a static one: %v", err)
	}
	if err := verify(dynamic, func() toolchain { t, _ := toolchainFor(arm64); return t }(), false); err == nil || !strings.Contains(err.Error(), "want ELFCLASS64 EM_AARCH64") {
		t.Errorf("amd64 program for arm64: %v", err)
	}
}

// A damaged cached binary is detected and compiled again, to the same bytes.
func TestBuildRebuildsCorruptCache(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("builds linux/amd64 programs")
	}
	for _, c := range cachetest.Corruptions {
		t.Run(c.Name, func(t *testing.T) {
			cacheDir := t.TempDir()
			bin, _ := build(t, cacheDir, amd64, program(false))
			good, _ := os.ReadFile(bin)
			c.Corrupt(t, bin)
			again, cached := build(t, cacheDir, amd64, program(false))
			if got, _ := os.ReadFile(again); cached || again != bin || !bytes.Equal(got, good) {
				t.Errorf("after the binary was %s: %s cached=%v; want it rebuilt at %s with the same bytes", c.Name, again, cached, bin)
			}
		})
	}
}
