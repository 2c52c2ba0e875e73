package pause

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/testenv"
)

// k8sVersion is a release whose module zip is in this project's module cache; its pause tag is
// pinned so a change upstream shows up here.
const (
	k8sVersion = "v1.37.2"
	k8sPause   = "3.10.2"
)

var (
	amd64 = catalog.Platform{OS: "linux", Arch: "amd64"}
	arm64 = catalog.Platform{OS: "linux", Arch: "arm64"}
	armv7 = catalog.Platform{OS: "linux", Arch: "arm", Variant: "v7"}
)

// k8sDir finds the k8s.io/kubernetes module in the module cache, downloading it (through the
// checksum-verified go command) only when it is absent.
func k8sDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		testenv.Missing(t, "go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@"+k8sVersion)
	if _, err := os.Stat(filepath.Join(dir, sourcePath)); err == nil {
		return dir
	}
	// Outside any module so that our go.mod and go.sum stay untouched.
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+k8sVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err = cmd.Output(); err != nil {
		testenv.Missing(t, "k8s.io/kubernetes@%s not in the module cache and not downloadable: %v", k8sVersion, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download -json: %v %s", err, out)
	}
	return m.Dir
}

func writeMakefile(t *testing.T, dir, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "build", "pause"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, makefilePath), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTag(t *testing.T) {
	for _, tc := range []struct {
		name, makefile, want, errHas string
	}{
		{name: "conditional", makefile: "IMAGE_TAG ?= nope\nTAG ?= 3.10.1\nREV = x\n", want: "3.10.1"},
		{name: "simple", makefile: "TAG := 3.9\n", want: "3.9"},
		{name: "no tag", makefile: "IMAGE = pause\n", errHas: "no TAG"},
		{name: "malformed", makefile: "TAG ?= $(shell evil)\n", errHas: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Tag(writeMakefile(t, t.TempDir(), tc.makefile))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %q, %v; want error with %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("real "+k8sVersion, func(t *testing.T) {
		got, err := Tag(k8sDir(t))
		if err != nil || got != k8sPause {
			t.Fatalf("got %q, %v; want %q", got, err, k8sPause)
		}
	})
}

func TestVersion(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct{ dir, want string }{
		// The Kubernetes release is not part of it: one pause binary for every release with this pause.
		{"kubernetes@v1.37.2", "v3.10.2"},
		{"kubernetes@v1.38.0-alpha.1", "v3.10.2"},
		{"kubernetes", "v3.10.2"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := writeMakefile(t, filepath.Join(base, tc.dir), "TAG ?= 3.10.2\n")
			if got, err := Version(dir); err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// runner is the command prefix that runs a binary for p on this host: none natively, else qemu-user.
func runner(t *testing.T, p catalog.Platform) []string {
	if p.GOARCH() == runtime.GOARCH {
		return nil
	}
	q, _ := p.Qemu()
	if _, err := exec.LookPath(q); err != nil {
		testenv.Missing(t, "%s missing: run hack/setup.sh", q)
	}
	return []string{q}
}

func TestBuild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("builds and runs linux binaries")
	}
	dir := k8sDir(t)
	ctx := context.Background()
	for _, tc := range []struct {
		p       catalog.Platform
		machine elf.Machine
		class   elf.Class
	}{
		{amd64, elf.EM_X86_64, elf.ELFCLASS64},
		{arm64, elf.EM_AARCH64, elf.ELFCLASS64},
		{armv7, elf.EM_ARM, elf.ELFCLASS32},
	} {
		t.Run(strings.ReplaceAll(tc.p.String(), "/", "-"), func(t *testing.T) {
			run := runner(t, tc.p)
			cacheA := t.TempDir()
			bin, cached, err := Build(ctx, dir, cacheA, tc.p)
			if err != nil {
				if strings.Contains(err.Error(), "run hack/setup.sh") {
					testenv.Missing(t, "%v", err)
				}
				t.Fatal(err)
			}
			if cached {
				t.Error("first build in an empty cache reported cached")
			}

			// Cache hit: same path, no compiler.
			again, cached, err := Build(ctx, dir, cacheA, tc.p)
			if err != nil || !cached || again != bin {
				t.Errorf("second build: %q cached=%v %v; want %q cached", again, cached, err, bin)
			}

			// Reproducible: a fresh cache (another build directory) gives the same bytes.
			other, cached, err := Build(ctx, dir, t.TempDir(), tc.p)
			if err != nil || cached {
				t.Fatalf("build in fresh cache: cached=%v %v", cached, err)
			}
			a, _ := os.ReadFile(bin)
			b, _ := os.ReadFile(other)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("two builds differ: %d vs %d bytes", len(a), len(b))
			}
			fi, err := os.Stat(bin)
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("mode %v, %v; want 0755", fi.Mode(), err)
			}
			t.Logf("%s: %d bytes", tc.p, len(a))

			checkELF(t, bin, tc.machine, tc.class)

			// `pause -v` prints upstream's version string.
			argv := append(append([]string{}, run...), bin)
			out, err := exec.Command(argv[0], append(argv[1:], "-v")...).CombinedOutput()
			if want := "pause.c v" + k8sPause + "\n"; err != nil || string(out) != want {
				t.Errorf("pause -v: %q, %v; want %q", out, err, want)
			}

			// Upstream's pause exits 0 on SIGINT and SIGTERM.
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
				t.Run(sig.String(), func(t *testing.T) { signalExits(t, argv, sig) })
			}
		})
	}
}

func checkELF(t *testing.T, path string, machine elf.Machine, class elf.Class) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine || f.Class != class {
		t.Errorf("ELF %v %v, want %v %v", f.Class, f.Machine, class, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("has PT_INTERP: not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("DT_NEEDED %v, %v; want none", libs, err)
	}
	if f.Section(".symtab") != nil || f.Section(".debug_info") != nil {
		t.Error("not stripped")
	}
}

// signalExits starts pause, waits until its handlers are installed, sends sig and expects exit 0.
func signalExits(t *testing.T, argv []string, sig syscall.Signal) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// A signal sent before pause's handlers exist would kill it by default action, so wait for
	// SIGCHLD, which pause installs after SIGINT and SIGTERM, to show in SigCgt. Under qemu-user
	// this holds too: qemu catches SIGCHLD on the host only once the guest installs a handler.
	deadline := time.Now().Add(10 * time.Second)
	for !catches(cmd.Process.Pid, syscall.SIGCHLD) {
		select {
		case err := <-done:
			t.Fatalf("pause exited before signal: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("pause never installed its signal handlers")
		}
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after %v: %v\n%s", sig, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "Shutting down, got signal") {
			t.Errorf("stderr %q lacks the shutdown message", stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("pause ignored %v", sig)
	}
}

// catches reports whether process pid has a handler for sig, from /proc/PID/status SigCgt.
func catches(pid int, sig syscall.Signal) bool {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
