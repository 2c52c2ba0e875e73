package upx

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/testenv"
)

// probeProgram is a small static Go program (~1.5 MB stripped, enough for UPX to accept) that
// echoes its arguments and one variable, so a probe checks both argv and env reach it.
const probeProgram = `package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--sleep" {
		time.Sleep(time.Hour)
	}
	fmt.Printf("probe-ok args=%s env=%s\n", strings.Join(os.Args[1:], ","), os.Getenv("PROBE_ENV"))
}
`

var (
	platforms = []catalog.Platform{
		{OS: "linux", Arch: "amd64"},
		{OS: "linux", Arch: "arm64"},
		{OS: "linux", Arch: "arm", Variant: "v7"},
	}
	goodProbe = Probe{Args: []string{"a", "b"}, Env: []string{"PROBE_ENV=x"}, Want: "probe-ok args=a,b env=x"}

	buildDir   string // holds the probe programs, one per platform, shared by all tests
	buildMu    sync.Mutex
	buildDone  = map[catalog.Platform]string{}
	buildError = map[catalog.Platform]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "upx-test-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTools skips unless upx, and qemu-user for a foreign platform, are installed.
func needTools(t *testing.T, p catalog.Platform) *Packer {
	t.Helper()
	pk, err := Find(t.TempDir())
	if err != nil {
		testenv.Missing(t, "%v", err) // says: install upx-ucl: run hack/setup.sh
	}
	if _, _, err := probeCommand("/bin/true", p, nil); err != nil {
		testenv.Missing(t, "%v", err) // says: install qemu-user-static: run hack/setup.sh
	}
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Missing(t, "no go command to build the probe program")
	}
	return pk
}

// programFor builds probeProgram for p once per test binary, as the project builds Go tools:
// static, trimmed, stripped.
func programFor(t *testing.T, p catalog.Platform) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := buildDone[p]; ok {
		return bin
	}
	if err := buildError[p]; err != nil {
		t.Fatal(err)
	}
	mod := filepath.Join(buildDir, "src-"+strings.ReplaceAll(p.String(), "/", "-"))
	bin := filepath.Join(buildDir, strings.ReplaceAll(p.String(), "/", "-"), "probeprog")
	err := errors.Join(
		os.MkdirAll(mod, 0o755),
		os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module probeprog\n\ngo 1.26\n"), 0o644),
		os.WriteFile(filepath.Join(mod, "main.go"), []byte(probeProgram), 0o644))
	if err == nil {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+p.GOARCH(), "GOARM="+p.GOARM(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		if out, berr := cmd.CombinedOutput(); berr != nil {
			err = errors.New("go build probe program for " + p.String() + ": " + berr.Error() + ": " + string(out))
		}
	}
	if err != nil {
		buildError[p] = err
		t.Fatal(err)
	}
	buildDone[p] = bin
	return bin
}

// runOn runs bin for p independently of the package's own probe code.
func runOn(t *testing.T, p catalog.Platform, bin string, args, env []string) string {
	t.Helper()
	argv := append([]string{bin}, args...)
	if p.GOARCH() != runtime.GOARCH {
		qemu, _ := p.Qemu()
		argv = append([]string{qemu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out)
	}
	return string(out)
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hostPlatform(t *testing.T) catalog.Platform {
	for _, p := range platforms {
		if p.GOARCH() == runtime.GOARCH {
			return p
		}
	}
	t.Skipf("host architecture %s is not a platform ckubelet builds", runtime.GOARCH)
	return catalog.Platform{}
}

// countingUPX wraps the real upx in a script that logs each packing run, to tell hits from misses.
func countingUPX(t *testing.T, real string) (path string, packs func() int) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	path = filepath.Join(dir, "upx")
	script := "#!/bin/sh\ncase \" $* \" in *\" -o \"*) echo pack >>'" + log + "';; esac\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func() int {
		b, err := os.ReadFile(log)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "pack\n")
	}
}

func TestPackRunsOnItsArchitecture(t *testing.T) {
	for _, p := range platforms {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) {
			t.Parallel()
			pk := needTools(t, p)
			src := programFor(t, p)
			before := fileBytes(t, src)
			var packs func() int
			pk.Path, packs = countingUPX(t, pk.Path)

			start := time.Now()
			path, packed, reason := pk.Pack(context.Background(), src, p, goodProbe)
			if reason != nil || !packed {
				t.Fatalf("Pack = %s, %v, %v; want packed", path, packed, reason)
			}
			t.Logf("%s: packed and probed in %v", p, time.Since(start).Round(time.Millisecond))
			if dir := filepath.Join(pk.CacheDir, cache.Layout, cacheKind); filepath.Dir(filepath.Dir(filepath.Dir(path))) != dir || filepath.Base(path) != filepath.Base(src) {
				t.Errorf("packed path %s is not %s/<key>/content/%s", path, dir, filepath.Base(src))
			}
			got := fileBytes(t, path)
			if !bytes.Contains(got, []byte("UPX!")) || len(got) >= len(before) {
				t.Errorf("%s is not a UPX-packed copy (%d bytes, input %d)", path, len(got), len(before))
			}
			t.Logf("%s: %d -> %d bytes", p, len(before), len(got))
			start = time.Now()
			if out := runOn(t, p, path, goodProbe.Args, goodProbe.Env); !strings.Contains(out, goodProbe.Want) {
				t.Errorf("packed binary printed %q, want %q", out, goodProbe.Want)
			}
			t.Logf("%s: packed binary ran in %v", p, time.Since(start).Round(time.Millisecond))

			again, packed, reason := pk.Pack(context.Background(), src, p, goodProbe)
			if again != path || !packed || reason != nil {
				t.Errorf("second Pack = %s, %v, %v; want cache hit %s", again, packed, reason, path)
			}
			if n := packs(); n != 1 {
				t.Errorf("upx packed %d times, want 1 (second Pack must hit the cache)", n)
			}
			// A different probe is a different acceptance test, so it must not reuse the entry.
			other := goodProbe
			other.Args = []string{"c"}
			other.Want = "probe-ok args=c"
			if p3, packed, reason := pk.Pack(context.Background(), src, p, other); !packed || reason != nil || p3 == path {
				t.Errorf("Pack with another probe = %s, %v, %v; want a new entry", p3, packed, reason)
			}
			if !bytes.Equal(fileBytes(t, src), before) {
				t.Error("Pack modified src")
			}
		})
	}
}

// Concurrent Packs of one input race to publish the same entry; all must get it, intact.
func TestPackConcurrentSameInput(t *testing.T) {
	t.Parallel()
	p := hostPlatform(t)
	pk := needTools(t, p)
	src := programFor(t, p)
	var wg sync.WaitGroup
	paths := make([]string, 4)
	errs := make([]error, 4)
	for i := range paths {
		wg.Go(func() {
			var packed bool
			paths[i], packed, errs[i] = pk.Pack(context.Background(), src, p, goodProbe)
			if !packed && errs[i] == nil {
				errs[i] = errors.New("not packed")
			}
		})
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("Pack #%d = %s, %v; want %s", i, paths[i], errs[i], paths[0])
		}
	}
	if out := runOn(t, p, paths[0], goodProbe.Args, goodProbe.Env); !strings.Contains(out, goodProbe.Want) {
		t.Errorf("packed binary printed %q", out)
	}
	entries, err := os.ReadDir(filepath.Join(pk.CacheDir, cache.Layout, cacheKind))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 and no leftover work directories", len(entries))
	}
}

// A damaged packed binary in the cache is detected, packed and probed again. The subtests run
// one at a time: a script written while another goroutine forks can fail to exec with ETXTBSY.
func TestPackRebuildsCorruptCache(t *testing.T) {
	p := hostPlatform(t)
	for _, c := range cachetest.Corruptions {
		t.Run(c.Name, func(t *testing.T) {
			pk := needTools(t, p)
			src := programFor(t, p)
			var packs func() int
			pk.Path, packs = countingUPX(t, pk.Path)
			path, packed, reason := pk.Pack(context.Background(), src, p, goodProbe)
			if !packed {
				t.Fatal(reason)
			}
			good := fileBytes(t, path)
			c.Corrupt(t, path)
			again, packed, reason := pk.Pack(context.Background(), src, p, goodProbe)
			if !packed || again != path || !bytes.Equal(fileBytes(t, again), good) {
				t.Errorf("after the packed binary was %s: %s, %v, %v; want it packed again at %s", c.Name, again, packed, reason, path)
			}
			if n := packs(); n != 2 {
				t.Errorf("upx packed %d times, want 2", n)
			}
		})
	}
}

// A packer whose output does not run must be caught by the probe: Pack ships src and says why.
func TestPackFallsBackOnBrokenOutput(t *testing.T) {
	breakages := map[string]string{
		"garbage":   `printf 'this is not an executable' >"$out"`,
		"truncated": `head -c 100000 "$in" >"$out"`,
	}
	for _, p := range platforms[:2] {
		for name, breakage := range breakages {
			t.Run(strings.ReplaceAll(p.String(), "/", "-")+"-"+name, func(t *testing.T) {
				t.Parallel()
				pk := needTools(t, p)
				src := programFor(t, p)
				before := fileBytes(t, src)
				pk.Path = filepath.Join(t.TempDir(), "upx")
				script := "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'upx 0.0-broken'; exit 0; }\n" +
					"while [ $# -gt 0 ]; do case \"$1\" in -o) out=$2; shift;; -*) ;; *) in=$1;; esac; shift; done\n" +
					breakage + "\nexit 0\n"
				if err := os.WriteFile(pk.Path, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				path, packed, reason := pk.Pack(context.Background(), src, p, goodProbe)
				checkFallback(t, pk, src, before, path, packed, reason, "probe")
			})
		}
	}
}

func TestPackFallsBackWhenWantMissing(t *testing.T) {
	for _, p := range platforms {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) {
			t.Parallel()
			pk := needTools(t, p)
			src := programFor(t, p)
			before := fileBytes(t, src)
			probe := goodProbe
			probe.Want = "something the program never prints"
			path, packed, reason := pk.Pack(context.Background(), src, p, probe)
			checkFallback(t, pk, src, before, path, packed, reason, "output lacks")
		})
	}
}

func TestPackFallsBackOnProbeTimeout(t *testing.T) {
	t.Parallel()
	p := hostPlatform(t)
	pk := needTools(t, p)
	pk.probeTimeout = time.Second
	src := programFor(t, p)
	path, packed, reason := pk.Pack(context.Background(), src, p, Probe{Args: []string{"--sleep"}})
	checkFallback(t, pk, src, fileBytes(t, src), path, packed, reason, "timed out")
}

func checkFallback(t *testing.T, pk *Packer, src string, before []byte, path string, packed bool, reason error, want string) {
	t.Helper()
	var fe *FallbackError
	if path != src || packed || !errors.As(reason, &fe) {
		t.Fatalf("Pack = %s, %v, %v; want %s, false, *FallbackError", path, packed, reason, src)
	}
	if msg := reason.Error(); !strings.Contains(msg, "probe") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("reason %q: want one line mentioning the probe and %q", msg, want)
	}
	t.Logf("reason: %v", reason)
	if !bytes.Equal(fileBytes(t, src), before) {
		t.Error("Pack modified src")
	}
	if entries, _ := os.ReadDir(filepath.Join(pk.CacheDir, cache.Layout, cacheKind)); len(entries) != 0 {
		t.Errorf("a rejected pack left %d cache entries", len(entries))
	}
}

func TestFindWithoutUPX(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Find(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "install upx-ucl: run hack/setup.sh") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Find without upx: %v; want one line telling to run hack/setup.sh", err)
	}
}

func TestCacheKeyCoversInputs(t *testing.T) {
	p := platforms[1]
	base, _ := cacheKey("sum", "upx 4.2.2", p, "crictl", goodProbe)
	changed := map[string]func() (string, error){
		"input":    func() (string, error) { return cacheKey("sum2", "upx 4.2.2", p, "crictl", goodProbe) },
		"version":  func() (string, error) { return cacheKey("sum", "upx 4.2.4", p, "crictl", goodProbe) },
		"platform": func() (string, error) { return cacheKey("sum", "upx 4.2.2", platforms[2], "crictl", goodProbe) },
		"name":     func() (string, error) { return cacheKey("sum", "upx 4.2.2", p, "kubeadm", goodProbe) },
		"env": func() (string, error) {
			q := goodProbe
			q.Env = []string{"PROBE_ENV=y"}
			return cacheKey("sum", "upx 4.2.2", p, "crictl", q)
		},
		"want": func() (string, error) {
			q := goodProbe
			q.Want = "x"
			return cacheKey("sum", "upx 4.2.2", p, "crictl", q)
		},
	}
	for name, f := range changed {
		if k, err := f(); err != nil || k == base {
			t.Errorf("changing the %s does not change the cache key (%v)", name, err)
		}
	}
}
