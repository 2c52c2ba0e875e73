package gobuild

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/version"
)

// tinyModule is a dependency-free main package, quick to compile for any platform.
var tinyModule = fstest.MapFS{"main.go": {Data: []byte("package main\n\nfunc main() { println(\"tiny\") }\n")}}

func hostTarget(t *testing.T) Target {
	t.Helper()
	p, err := catalog.ParsePlatform("linux/" + goarch(t))
	if err != nil {
		t.Fatal(err)
	}
	return Target{Platform: p}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// entries lists the entries of a cache kind, leftover work directories included.
func entries(t *testing.T, cacheDir, kind string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(cacheDir, cache.Layout, kind))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// A cached binary that is damaged is compiled again, to the same bytes.
func TestBuildRebuildsCorruptBinary(t *testing.T) {
	ctx := context.Background()
	for _, c := range cachetest.Corruptions {
		t.Run(c.Name, func(t *testing.T) {
			cacheDir := t.TempDir()
			src, err := LocalSource(tinyModule, "example.com/tiny", cacheDir)
			if err != nil {
				t.Fatal(err)
			}
			g := &Go{}
			first, err := g.Build(ctx, cacheDir, src, ".", hostTarget(t))
			if err != nil {
				t.Fatal(err)
			}
			good := readFile(t, first.Path)
			c.Corrupt(t, first.Path)
			again, err := g.Build(ctx, cacheDir, src, ".", hostTarget(t))
			if err != nil {
				t.Fatal(err)
			}
			if again.Cached || again.Path != first.Path || !bytes.Equal(readFile(t, again.Path), good) {
				t.Errorf("after the binary was %s: cached=%v path %s; want it rebuilt at %s with the same bytes", c.Name, again.Cached, again.Path, first.Path)
			}
			if out, err := exec.Command(again.Path).CombinedOutput(); err != nil || string(out) != "tiny\n" {
				t.Errorf("rebuilt binary: %q, %v", out, err)
			}
		})
	}
}

// Generated sources that are damaged — the wrapper module's go.mod, the local module proxy's
// zip — are written again.
func TestGeneratedSourceRebuilt(t *testing.T) {
	for _, c := range cachetest.Corruptions {
		for _, what := range []string{"wrapper go.mod", "proxy zip"} {
			t.Run(what+" "+c.Name, func(t *testing.T) {
				cacheDir := t.TempDir()
				src, err := LocalSource(tinyModule, "example.com/tiny", cacheDir)
				if err != nil {
					t.Fatal(err)
				}
				damaged := filepath.Join(src.Dir, "go.mod")
				if what == "proxy zip" {
					proxy := strings.TrimPrefix(src.extraEnv[0], "GOPROXY=file://")
					damaged = filepath.Join(proxy, "example.com", "tiny", "@v", src.Module.Version+".zip")
				}
				good := readFile(t, damaged)
				c.Corrupt(t, damaged)
				again, err := LocalSource(tinyModule, "example.com/tiny", cacheDir)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readFile(t, damaged), good) {
					t.Errorf("%s not restored after it was %s", what, c.Name)
				}
				bin, err := (&Go{}).Build(context.Background(), cacheDir, again, ".", hostTarget(t))
				if err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(bin.Path).CombinedOutput(); err != nil || string(out) != "tiny\n" {
					t.Errorf("built binary: %q, %v", out, err)
				}
			})
		}
	}
}

// The build info of a component names it at its real version: Kubernetes' module at its
// release, ckubelet's helpers at ckubelet's version.
func TestBuildInfoNamesTheComponent(t *testing.T) {
	cacheDir := t.TempDir()
	src, err := LocalSource(tinyModule, "example.com/tiny", cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := (&Go{}).Build(context.Background(), cacheDir, src, ".", hostTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "version", "-m", bin.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`(?m)^\tmod\texample\.com/tiny\t` + regexp.QuoteMeta(version.Version) + `\th1:\S+$`)
	if !want.Match(out) || !strings.Contains(string(out), "\tpath\texample.com/tiny\n") {
		t.Errorf("go version -m:\n%s\nwant the path example.com/tiny and a line matching %s", out, want)
	}

	// A downloaded component, with a dependency.
	fakeProxy(t)
	g := &Go{}
	app, err := g.PrepareModule(context.Background(), cacheDir, "example.com/app", "v1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	bin, err = g.Build(context.Background(), cacheDir, app, ".", hostTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("go", "version", "-m", bin.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, re := range []string{`(?m)^\tmod\texample\.com/app\tv1\.0\.0\th1:\S+$`, `(?m)^\tdep\texample\.com/dep\tv1\.0\.0\th1:\S+$`} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("go version -m:\n%s\nwant a line matching %s", out, re)
		}
	}
	if strings.Contains(string(out), wrapperModule) {
		t.Errorf("the wrapper module shows in the build info:\n%s", out)
	}
}

// Two builds of one module at once on one cache both succeed, with the same binary, and leave
// one entry: each compiles into its own directory and the second to publish keeps the first's.
func TestConcurrentBuilds(t *testing.T) {
	ctx := context.Background()
	cacheDir := t.TempDir()
	src, err := LocalSource(tinyModule, "example.com/tiny", cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	bins := make([]Binary, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { bins[i], errs[i] = (&Go{}).Build(ctx, cacheDir, src, ".", hostTarget(t)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("build #%d: %v", i, errs[i])
		}
		if bins[i].Path != bins[0].Path || !bytes.Equal(readFile(t, bins[i].Path), readFile(t, bins[0].Path)) {
			t.Errorf("build #%d gave %s, build #0 %s", i, bins[i].Path, bins[0].Path)
		}
	}
	if names := entries(t, cacheDir, binKind); len(names) != 1 {
		t.Errorf("bin/ holds %v, want one entry and no work directories", names)
	}
}

// Every setting of the go command that changes the binary changes the key, whether it comes from
// the environment or from `go env -w`.
func TestCacheKeyCoversGoSettings(t *testing.T) {
	ctx := context.Background()
	src, err := LocalSource(tinyModule, "example.com/tiny", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOENV", filepath.Join(t.TempDir(), "go.env"))
	for _, v := range []string{"GOAMD64", "GOEXPERIMENT", "GOARM64", "CGO_CFLAGS", "GOFLAGS"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	g := &Go{}
	p, _ := catalog.ParsePlatform("linux/amd64")
	key := func() string {
		t.Helper()
		env, args := src.buildCommand(Target{Platform: p}, "")
		k, err := g.cacheKey(ctx, src, env, args, ".", "")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key()
	if again := key(); again != base {
		t.Fatalf("same inputs, two keys: %s %s", base, again)
	}
	seen := map[string]string{base: "defaults"}
	for _, tc := range []struct{ name, variable, value string }{
		{"GOAMD64 from the environment", "GOAMD64", "v3"},
		{"GOEXPERIMENT from the environment", "GOEXPERIMENT", "jsonv2"},
		{"GOAMD64 from go env -w", "GOAMD64", "v2"},
		{"CGO_CFLAGS from go env -w", "CGO_CFLAGS", "-O1"},
		{"GOARM64 from the environment", "GOARM64", "v9.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasSuffix(tc.name, "go env -w") {
				if out, err := exec.Command("go", "env", "-w", tc.variable+"="+tc.value).CombinedOutput(); err != nil {
					t.Fatalf("go env -w: %v: %s", err, out)
				}
				t.Cleanup(func() { exec.Command("go", "env", "-u", tc.variable).Run() })
			} else {
				t.Setenv(tc.variable, tc.value)
			}
			k := key()
			if prev, dup := seen[k]; dup {
				t.Errorf("%s=%s gives the key of %s", tc.variable, tc.value, prev)
			}
			seen[k] = tc.name
		})
	}
	// The build sets GOFLAGS itself, so the caller's cannot change the binary, nor the key.
	t.Run("GOFLAGS from the environment is replaced", func(t *testing.T) {
		t.Setenv("GOFLAGS", "-tags=netgo")
		if k := key(); k != base {
			t.Errorf("GOFLAGS=-tags=netgo changed the key; the build's own GOFLAGS should replace it")
		}
	})
}

// fakeProxy serves example.com/app, which needs example.com/dep, from a file:// module proxy, with
// a module cache of the test's own and no checksum database: the go command then checks go.sum
// against the modules alone, as it checks lines it has from the checksum database.
func fakeProxy(t *testing.T) {
	t.Helper()
	proxy, modcache := t.TempDir(), t.TempDir()
	t.Setenv("GOPROXY", "file://"+proxy)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOTOOLCHAIN", "local")
	t.Cleanup(func() { exec.Command("go", "clean", "-modcache").Run() }) // its files are read-only

	depMod := "module example.com/dep\n\ngo 1.24\n"
	depZip := publish(t, proxy, "example.com/dep", map[string]string{
		"go.mod": depMod,
		"dep.go": "package dep\n\nconst Hello = \"hello from dep\"\n",
	})
	zipSum, err := dirhash.HashZip(depZip, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	modSum, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(depMod)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, proxy, "example.com/app", map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.24\n\nrequire example.com/dep v1.0.0\n",
		"go.sum":  "example.com/dep v1.0.0 " + zipSum + "\nexample.com/dep v1.0.0/go.mod " + modSum + "\n",
		"main.go": "package main\n\nimport \"example.com/dep\"\n\nfunc main() { println(dep.Hello) }\n",
	})
}

// publish puts path@v1.0.0 with the given files on a file:// proxy and returns its zip.
func publish(t *testing.T, proxy, path string, files map[string]string) string {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(proxy, path, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"list":        "v1.0.0\n",
		"v1.0.0.info": `{"Version":"v1.0.0","Time":"2026-01-02T03:04:05Z"}`,
		"v1.0.0.mod":  files["go.mod"],
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zipPath := filepath.Join(dir, "v1.0.0.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := modzip.CreateFromDir(f, module.Version{Path: path, Version: "v1.0.0"}, src); err != nil {
		t.Fatal(err)
	}
	return zipPath
}

// Our go.mod and go.sum are the go command's working files: a damaged go.mod is replaced from
// the verified module when the source is prepared, and a damaged go.sum is refused by the go
// command, reset to upstream's verified one and completed again.
func TestModFilesRepaired(t *testing.T) {
	fakeProxy(t)
	ctx := context.Background()
	g := &Go{}
	type corruption struct {
		name, file string
		corrupt    func(t testing.TB, path string)
	}
	cases := []corruption{{"go.sum hash altered", "go.sum", func(t testing.TB, path string) {
		b := bytes.Replace(readFile(t, path), []byte(" h1:"), []byte(" h1:AAAA"), 1)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}}}
	for _, file := range []string{"go.sum", "go.mod"} {
		for _, c := range cachetest.Corruptions {
			cases = append(cases, corruption{file + " " + c.Name, file, c.Corrupt})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cacheDir := t.TempDir()
			src, err := g.PrepareModule(ctx, cacheDir, "example.com/app", "v1.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Fetch(ctx, src, "."); err != nil {
				t.Fatal(err)
			}
			tc.corrupt(t, filepath.Join(filepath.Dir(src.ModFile), tc.file))
			src, err = g.PrepareModule(ctx, cacheDir, "example.com/app", "v1.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Fetch(ctx, src, "."); err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
			bin, err := g.Build(ctx, cacheDir, src, ".", hostTarget(t))
			if err != nil {
				t.Fatalf("after %s: %v", tc.name, err)
			}
			if out, err := exec.Command(bin.Path).CombinedOutput(); err != nil || string(out) != "hello from dep\n" {
				t.Errorf("built binary: %q, %v", out, err)
			}
			sum := strings.Split(string(readFile(t, filepath.Join(filepath.Dir(src.ModFile), "go.sum"))), "\n")
			for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, src.seedSum))), "\n") {
				if !slices.Contains(sum, line) {
					t.Errorf("go.sum after the build lacks upstream's %q:\n%s", line, strings.Join(sum, "\n"))
				}
			}
		})
	}
}

// BuildTest compiles a package's tests into a binary that runs them, as go test -c does.
func TestBuildTest(t *testing.T) {
	cacheDir := t.TempDir()
	withTest := fstest.MapFS{
		"main.go":      {Data: []byte("package main\n\nfunc main() {}\n\nfunc answer() int { return 42 }\n")},
		"main_test.go": {Data: []byte("package main\n\nimport \"testing\"\n\nfunc TestAnswer(t *testing.T) {\n\tif answer() != 42 {\n\t\tt.Fatal(answer())\n\t}\n}\n")},
	}
	src, err := LocalSource(withTest, "example.com/answer", cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := (&Go{}).BuildTest(context.Background(), cacheDir, src, ".", hostTarget(t))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(bin.Path) != "answer.test" {
		t.Errorf("test binary %s", bin.Path)
	}
	out, err := exec.Command(bin.Path, "-test.v").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestAnswer") {
		t.Errorf("%s: %v\n%s", bin.Path, err, out)
	}
}
