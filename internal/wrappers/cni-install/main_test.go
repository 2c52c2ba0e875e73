package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// TestMain lets the test binary act as cni-install for the tests that run it.
func TestMain(m *testing.M) {
	if os.Getenv(beMain) == "1" {
		main()
		os.Exit(3) // main execs or exits; returning is a bug
	}
	os.Exit(m.Run())
}

const beMain = "CNI_INSTALL_TEST_MAIN"

// echo is a command that prints its pid, arguments and $FOO: the pid proves an exec rather than
// a child, and $FOO that the environment was kept.
var echo = []string{"/bin/sh", "-c", `echo ran $$ $0 "$@" FOO=$FOO`, "a", "b"}

// both are the plugins the tests install.
var both = []string{"bridge", "loopback"}

func TestMainExec(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		testenv.Missing(t, "no /bin/sh")
	}
	self, err := os.Executable()
	must(t, err)
	for _, tc := range []struct {
		name    string
		args    []string // FROM, TO and ROOT are replaced; TO exists unless noTo
		noTo    bool
		toFile  bool // TO is a plain file
		toDir   string
		path    string // $PATH; empty keeps the test's
		code    int
		stdout  string // PID is the process's pid
		stderr  []string
		plugins []string // what TO holds afterwards
	}{{
		name:    "install then exec with the container's arguments appended",
		args:    append(append([]string{"--from=FROM", "--to=TO", "--"}, echo...), "--v=2", "--node-ip=10.0.0.1"),
		stdout:  "ran PID a b --v=2 --node-ip=10.0.0.1 FOO=bar\n",
		stderr:  []string{"installed bridge", "installed loopback", "from FROM to TO: 2 installed, 0 updated, 0 unchanged"},
		plugins: both,
	}, {
		name:    "separate option values and a command found on PATH",
		args:    []string{"--from", "FROM", "-to", "TO", "--", "sh", "-c", `echo ran $0 "$@"`, "x", "y"},
		path:    "ROOT/empty::/bin", // the empty entry (the current directory) has no sh
		stdout:  "ran x y\n",
		plugins: both,
	}, {
		name:   "host directory not mounted",
		args:   append([]string{"--from=FROM", "--to=TO", "--"}, echo...),
		noTo:   true,
		stdout: "ran PID a b FOO=bar\n",
		stderr: []string{"cni-install: plugins not installed on the host: TO does not exist"},
	}, {
		name:    "no command after --",
		args:    []string{"--from=FROM", "--to=TO/", "--"},
		stderr:  []string{"from FROM to TO: 2 installed"},
		plugins: both,
	}, {
		name:    "no --",
		args:    []string{"--from=FROM", "--to=TO"},
		plugins: both,
	}, {
		name:    "failed install does not start the command",
		args:    append([]string{"--from=FROM", "--to=TO", "--"}, echo...),
		toDir:   "loopback",
		code:    1,
		plugins: []string{"bridge", "loopback"}, // loopback the directory
		stderr:  []string{"cni-install: install TO/loopback: rename TO/.loopback.cni-install-", "remove what stands in the plugin's place"},
	}, {
		name:   "destination not a directory",
		args:   append([]string{"--from=FROM", "--to=TO", "--"}, echo...),
		toFile: true,
		code:   1,
		stderr: []string{"cni-install: TO is not a directory"},
	}, {
		name:    "command not found",
		args:    []string{"--from=FROM", "--to=TO", "--", "no-such-kubelet"},
		path:    "/nonexistent",
		code:    127,
		stderr:  []string{"cni-install: command no-such-kubelet not found in $PATH"},
		plugins: both,
	}, {
		name:    "command relative to the current directory refused",
		args:    []string{"--from=FROM", "--to=TO", "--", "kubelet"},
		path:    "relative",
		code:    127,
		plugins: both,
		stderr:  []string{"resolves to relative/kubelet, relative to the current directory"},
	}, {
		name:   "unknown option",
		args:   []string{"--form=FROM", "--to=TO", "--", "/bin/true"},
		code:   2,
		stderr: []string{`cni-install: unknown option "--form=FROM"`, "usage: cni-install"},
	}, {
		name:   "command without --",
		args:   []string{"--from=FROM", "/usr/bin/kubelet"},
		code:   2,
		stderr: []string{`unexpected argument "/usr/bin/kubelet": put the command after "--"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			from, to := filepath.Join(root, "from"), filepath.Join(root, "to")
			must(t, os.Mkdir(from, 0o755))
			layout(t, from, map[string]entry{"bridge": {data: "B"}, "loopback": {data: "L"}})
			switch {
			case tc.toFile:
				must(t, os.WriteFile(to, nil, 0o644))
			case !tc.noTo:
				must(t, os.Mkdir(to, 0o755))
			}
			if tc.toDir != "" {
				must(t, os.Mkdir(filepath.Join(to, tc.toDir), 0o755))
			}
			// A kubelet in the working directory, for the relative-PATH case.
			must(t, os.Mkdir(filepath.Join(root, "relative"), 0o755))
			must(t, os.WriteFile(filepath.Join(root, "relative", "kubelet"), []byte("#!/bin/sh\necho oops\n"), 0o755))
			expand := strings.NewReplacer("FROM", from, "TO", to, "ROOT", root).Replace
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = expand(a)
			}
			cmd := exec.Command(self, args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), beMain+"=1", "FOO=bar")
			if tc.path != "" {
				cmd.Env = append(cmd.Env, "PATH="+expand(tc.path))
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, &stderr)
			}
			want := strings.ReplaceAll(tc.stdout, "PID", strconv.Itoa(cmd.Process.Pid))
			if stdout.String() != want {
				t.Errorf("stdout %q, want %q", &stdout, want)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), expand(s)) {
					t.Errorf("stderr lacks %q:\n%s", expand(s), &stderr)
				}
			}
			var names []string
			if des, err := os.ReadDir(to); err == nil {
				for _, de := range des {
					names = append(names, de.Name())
				}
			}
			if !slices.Equal(names, tc.plugins) {
				t.Errorf("%s holds %q, want %q", to, names, tc.plugins)
			}
		})
	}
}

// TestStaticBuild builds the program as ckubelet does, from its non-test files alone under the
// go.mod gobuild.LocalSource writes, and runs it: the embedded file list must be complete, and the
// binary static so that it needs nothing from the image.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "no go command")
	}
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte("module cni-install\n\ngo 1.24\n"), 0o644))
	for _, name := range []string{"main.go", "install.go"} { // as in ../wrappers.go
		b, err := os.ReadFile(name)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(src, name), b, 0o644))
	}
	bin := filepath.Join(t.TempDir(), "cni-install")
	build := exec.Command(gocmd, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	must(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("not static: has %v", p.Type)
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	from, to := t.TempDir(), t.TempDir()
	layout(t, from, map[string]entry{"bridge": {data: "B"}})
	out, err := exec.Command(bin, append([]string{"--from=" + from, "--to=" + to, "--", "/bin/sh", "-c", `echo ran $0 "$@"`, "a", "b"}, "c")...).Output()
	if err != nil || string(out) != "ran a b c\n" {
		t.Errorf("built binary printed %q, %v; want \"ran a b c\\n\"", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(to, "bridge")); err != nil || string(b) != "B" {
		t.Errorf("built binary installed %q, %v", b, err)
	}
}
