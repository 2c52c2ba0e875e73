package gobuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// pluginsFixture writes a plugins-like module: main packages under plugins/, one with a helper
// package of its own, and a replace that makes it resolvable without a proxy.
func pluginsFixture(t *testing.T) *Source {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/plugins\n\ngo 1.24\n\nreplace example.com/plugins => " + dir + "\n",
		"plugins/main/hello/hello.go": `//go:build linux

// Package comment stays.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() { fmt.Println("hello as", filepath.Base(os.Args[0]), os.Args[1:]) }
`,
		"plugins/main/hello/util.go":       "package main\n\nfunc mainly() string { return \"main\" }\n",
		"plugins/main/hello/hello_test.go": "package main\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n",
		"plugins/ipam/host-local/main.go": `package main

import (
	"fmt"

	"example.com/plugins/plugins/ipam/host-local/backend"
)

func main() { fmt.Println("host-local", backend.Name) }
`,
		"plugins/ipam/host-local/backend/backend.go": "package backend\n\nconst Name = \"backend\"\n",
		"plugins/main/broken/broken.go":              "package broken\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Source{
		Module:  &Module{Path: "example.com/plugins", Version: "v1.0.0", Dir: dir},
		ModFile: filepath.Join(dir, "go.mod"),
	}
}

func TestCNIMulticallRewrite(t *testing.T) {
	src := pluginsFixture(t)
	available := map[string]string{"hello": "./plugins/main/hello", "host-local": "./plugins/ipam/host-local", "broken": "./plugins/main/broken"}
	for _, tc := range []struct {
		name    string
		plugins []string
		errHas  string
	}{
		{name: "two plugins", plugins: []string{"hello", "host-local"}},
		{name: "unknown plugin", plugins: []string{"hello", "nope"}, errHas: "CNI plugin nope: not in example.com/plugins@v1.0.0"},
		{name: "not a main package", plugins: []string{"broken"}, errHas: "broken.go: package broken, want main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc, err := CNIMulticall(src, available, tc.plugins, t.TempDir())
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, want an error with %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hello, err := os.ReadFile(filepath.Join(mc.Module.Dir, "plugins/hello/hello.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"//go:build linux\n\n// Package comment stays.\npackage hello\n", "func Main() {"} {
				if !strings.Contains(string(hello), want) {
					t.Errorf("rewritten hello.go lacks %q:\n%s", want, hello)
				}
			}
			if util, _ := os.ReadFile(filepath.Join(mc.Module.Dir, "plugins/hello/util.go")); string(util) != "package hello\n\nfunc mainly() string { return \"main\" }\n" {
				t.Errorf("util.go: %q", util)
			}
			if _, err := os.Stat(filepath.Join(mc.Module.Dir, "plugins/hello/hello_test.go")); !os.IsNotExist(err) {
				t.Errorf("test file copied: %v", err)
			}
		})
	}
}

// TestCNIMulticallRuns builds the fixture's multicall binary and runs it the three ways it can be.
func TestCNIMulticallRuns(t *testing.T) {
	src := pluginsFixture(t)
	cache := t.TempDir()
	available := map[string]string{"hello": "./plugins/main/hello", "host-local": "./plugins/ipam/host-local"}
	mc, err := CNIMulticall(src, available, []string{"hello", "host-local"}, cache)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := catalog.ParsePlatform("linux/" + goarch(t))
	bin, err := (&Go{}).Build(context.Background(), cache, mc, ".", Target{Platform: p})
	if err != nil {
		t.Fatal(err)
	}
	if bin.Name != MulticallName {
		t.Errorf("binary named %q", bin.Name)
	}
	dir := t.TempDir()
	for _, link := range []string{"hello", "host-local"} {
		if err := os.Symlink(bin.Path, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		argv     []string
		want     string
		exitCode int
	}{
		{argv: []string{filepath.Join(dir, "hello"), "a"}, want: "hello as hello [a]\n"},
		{argv: []string{filepath.Join(dir, "host-local")}, want: "host-local backend\n"},
		{argv: []string{bin.Path, "hello", "b"}, want: "hello as hello [b]\n"},
		{argv: []string{bin.Path, "nope"}, want: "cni-plugins: invoke me through a link named after a plugin, or as cni-plugins PLUGIN: hello, host-local\n", exitCode: 2},
	} {
		t.Run(strings.Join(tc.argv[1:], " "), func(t *testing.T) {
			out, err := exec.Command(tc.argv[0], tc.argv[1:]...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want || code != tc.exitCode {
				t.Errorf("got %q (exit %d), want %q (exit %d)", out, code, tc.want, tc.exitCode)
			}
		})
	}
	// Same inputs, same source tree and cache key: the second build compiles nothing.
	again, err := CNIMulticall(src, available, []string{"hello", "host-local"}, cache)
	if err != nil || again.Module.Dir != mc.Module.Dir {
		t.Fatalf("regenerated into %v (%v), want %s", again, err, mc.Module.Dir)
	}
	if b, err := (&Go{}).Build(context.Background(), cache, again, ".", Target{Platform: p}); err != nil || !b.Cached {
		t.Fatalf("rebuild: cached=%v, %v", b.Cached, err)
	}
}

func goarch(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
