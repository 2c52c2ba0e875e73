package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the wrapper for the tests that run it.
func TestMain(m *testing.M) {
	if os.Getenv(beWrapper) == "1" {
		if ns, err := strconv.ParseInt(os.Getenv(wrapperTimeout), 10, 64); err == nil {
			saveTimeout = ns
		}
		if os.Getenv(unlinkSelf) == "1" {
			// As if the image's wrapper were replaced while this call runs.
			if err := os.Remove(filepath.Join(filepath.Dir(os.Args[0]), "iptables-wrapper")); err != nil {
				panic(err)
			}
		}
		main()
	}
	os.Exit(m.Run())
}

const (
	beWrapper      = "IPTABLES_WRAPPER_TEST_MAIN"
	wrapperTimeout = "IPTABLES_WRAPPER_TEST_TIMEOUT" // saveTimeout in nanoseconds
	unlinkSelf     = "IPTABLES_WRAPPER_TEST_UNLINK"
)

// wrapperCmd runs link, which leads to a copy of the test binary, as the wrapper.
func wrapperCmd(link string, args ...string) *exec.Cmd {
	cmd := exec.Command(link, args...)
	cmd.Env = append(os.Environ(), beWrapper+"=1", wrapperTimeout+"=300000000")
	return cmd
}

// image lays out dir as the image does: the wrapper (a copy of the test binary) and the links.
func image(t *testing.T, dir string) {
	t.Helper()
	copyFile(t, os.Args[0], filepath.Join(dir, "iptables-wrapper"))
	for _, name := range wrappedNames {
		must(t, os.Symlink("iptables-wrapper", filepath.Join(dir, name)))
	}
}

func script(t *testing.T, path, body string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

// TestWrapper runs the wrapper through links against fake backends, as it runs in the image.
func TestWrapper(t *testing.T) {
	const hang = "echo ':KUBE-IPTABLES-HINT - [0:0]'; exec sleep 30"
	for _, tc := range []struct {
		name       string
		legacySave string // body of the legacy save scripts; "" leaves them out
		nftSave    string
		want       string
		rewired    bool
	}{
		{"host on nft", "true", "echo ':KUBE-IPTABLES-HINT - [0:0]'", "nft", true},
		{"host on legacy", "echo ':KUBE-KUBELET-CANARY - [0:0]'", "true", "legacy", true},
		{"legacy save fails", "exit 1", "true", "nft", true},
		{"legacy save killed by a signal", "echo '-A INPUT -j ACCEPT'; kill -9 $$", "true", "legacy", true},
		// A save that cannot run or has to be killed leaves the decision to the next call; what
		// it printed until then still counts.
		{"legacy save missing", "", "true", "nft", false},
		{"legacy save not executable", "-", "true", "nft", false},
		{"nft save hangs", "echo ':KUBE-KUBELET-CANARY - [0:0]'", hang, "nft", false},
		{"nft save hangs silently", "echo ':KUBE-KUBELET-CANARY - [0:0]'", "exec sleep 30", "legacy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			image(t, dir)
			for _, family := range []string{"iptables", "ip6tables"} {
				switch tc.legacySave {
				case "":
				case "-":
					must(t, os.WriteFile(filepath.Join(dir, family+"-legacy-save"), []byte("#!/bin/sh\n"), 0o644))
				default:
					script(t, filepath.Join(dir, family+"-legacy-save"), tc.legacySave)
				}
				script(t, filepath.Join(dir, family+"-nft-save"), tc.nftSave)
				for _, mode := range []string{"nft", "legacy"} {
					script(t, filepath.Join(dir, family+"-"+mode), `echo "$(basename "$0") $*"`)
				}
			}
			start := time.Now()
			out, err := wrapperCmd(filepath.Join(dir, "iptables"), "-w", "-L", "-n").CombinedOutput()
			if err != nil {
				t.Fatalf("iptables: %v: %s", err, out)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if got, want := strings.TrimSpace(string(out)), "iptables-"+tc.want+" -w -L -n"; got != want {
				t.Errorf("ran %q, want %q", got, want)
			}
			for _, name := range wrappedNames {
				want := "iptables-wrapper"
				if tc.rewired {
					want = backend(name, tc.want)
				}
				if got, _ := os.Readlink(filepath.Join(dir, name)); got != want {
					t.Errorf("%s -> %s after first call, want %s", name, got, want)
				}
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) > 0 {
				t.Errorf("left behind %v", tmp)
			}
		})
	}
}

// TestWrapperPassesThrough checks the backend gets the call exactly: the link's backend, every
// argument as given, the environment, and stdin, stdout, stderr and the exit status.
func TestWrapperPassesThrough(t *testing.T) {
	dir := t.TempDir()
	image(t, dir)
	for _, family := range []string{"iptables", "ip6tables"} {
		// Would eat the backend's input, or show up in its errors, if they were passed on.
		script(t, filepath.Join(dir, family+"-nft-save"), "cat >/dev/null; echo save-noise >&2")
		script(t, filepath.Join(dir, family+"-legacy-save"), "cat >/dev/null; echo save-noise >&2")
	}
	script(t, filepath.Join(dir, "ip6tables-nft-restore"),
		`basename "$0"; for a; do echo "[$a]"; done; echo "env=$WRAPPER_TEST_VAR"; cat; echo to-stderr >&2; exit 3`)
	// Linked by an absolute path, and run by bare name as a shell would after a PATH lookup.
	link := filepath.Join(dir, "ip6tables-restore")
	must(t, os.Remove(link))
	must(t, os.Symlink(filepath.Join(dir, "iptables-wrapper"), link))
	cmd := wrapperCmd(link, "--noflush", "", "a b", "ü\tx")
	cmd.Args[0] = "ip6tables-restore"
	cmd.Env = append(cmd.Env, "WRAPPER_TEST_VAR=v=1")
	cmd.Stdin = strings.NewReader("*filter\nCOMMIT\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	want := "ip6tables-nft-restore\n[--noflush]\n[]\n[a b]\n[ü\tx]\nenv=v=1\n*filter\nCOMMIT\n"
	if string(out) != want {
		t.Errorf("backend printed %q, want %q", out, want)
	}
	if stderr.String() != "to-stderr\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	if got, _ := os.Readlink(link); got != "ip6tables-nft-restore" {
		t.Errorf("absolute link not rewired: -> %s", got)
	}
}

// TestWrapperLeavesOtherLinks checks only links to the wrapper are rewired.
func TestWrapperLeavesOtherLinks(t *testing.T) {
	dir := t.TempDir()
	image(t, dir)
	for _, family := range []string{"iptables", "ip6tables"} {
		script(t, filepath.Join(dir, family+"-nft-save"), "true")
		script(t, filepath.Join(dir, family+"-legacy-save"), "true")
		script(t, filepath.Join(dir, family+"-nft"), "true")
	}
	must(t, os.Remove(filepath.Join(dir, "ip6tables")))
	must(t, os.Symlink("xtables-legacy-multi", filepath.Join(dir, "ip6tables")))
	must(t, os.Remove(filepath.Join(dir, "iptables-restore")))
	script(t, filepath.Join(dir, "iptables-restore"), "true")
	if out, err := wrapperCmd(filepath.Join(dir, "iptables")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "ip6tables")); got != "xtables-legacy-multi" {
		t.Errorf("ip6tables -> %s, want it left alone", got)
	}
	if _, err := os.Readlink(filepath.Join(dir, "iptables-restore")); err == nil {
		t.Errorf("iptables-restore, a file, became a link")
	}
	if got, _ := os.Readlink(filepath.Join(dir, "iptables-save")); got != "iptables-nft-save" {
		t.Errorf("iptables-save -> %s, want iptables-nft-save", got)
	}
}

// TestWrapperReplaced runs a wrapper that is deleted as it starts, which the kernel reports as
// "/dir/iptables-wrapper (deleted)".
func TestWrapperReplaced(t *testing.T) {
	dir := t.TempDir()
	image(t, dir)
	for _, family := range []string{"iptables", "ip6tables"} {
		script(t, filepath.Join(dir, family+"-nft-save"), "true")
		script(t, filepath.Join(dir, family+"-legacy-save"), "echo ':KUBE-IPTABLES-HINT - [0:0]'")
		script(t, filepath.Join(dir, family+"-legacy"), `echo "$(basename "$0") $*"`)
	}
	cmd := wrapperCmd(filepath.Join(dir, "ip6tables"), "-S")
	cmd.Env = append(cmd.Env, unlinkSelf+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "ip6tables-legacy -S\n" {
		t.Fatalf("ran %q, %v", out, err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "iptables-save")); got != "iptables-legacy-save" {
		t.Errorf("iptables-save -> %s, want iptables-legacy-save", got)
	}
}

func TestWrapperBackendMissing(t *testing.T) {
	dir := t.TempDir()
	image(t, dir)
	out, err := wrapperCmd(filepath.Join(dir, "iptables-save")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	if want := "iptables-wrapper: exec iptables-nft-save: no such file or directory\n"; string(out) != want {
		t.Errorf("said %q, want %q", out, want)
	}
}

func TestWrapperUnknownName(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, os.Args[0], filepath.Join(dir, "iptables-wrapper"))
	out, err := wrapperCmd(filepath.Join(dir, "iptables-wrapper")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("run as iptables-wrapper: %v, want exit status 2", err)
	}
	want := fmt.Sprintf("iptables-wrapper: run through a link named one of %v, not %q\n", wrappedNames, "iptables-wrapper")
	if string(out) != want {
		t.Errorf("said %q, want %q", out, want)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("-A INPUT -j ACCEPT\n", 100000) // far more than a pipe holds
	must(t, os.WriteFile(filepath.Join(dir, "big"), []byte(big), 0o644))
	for _, tc := range []struct {
		name, body string // "" leaves the command out
		timeout    time.Duration
		want       string
		ok         bool
	}{
		{"prints", `echo "$0 $*"`, time.Minute, dir + "/cmd a b\n", true},
		{"fails", "echo some; exit 4", time.Minute, "some\n", true},
		{"killed by a signal", "echo some; kill -9 $$", time.Minute, "some\n", true},
		{"stdin is empty, stderr not kept", "cat; echo err >&2", time.Minute, "", true},
		{"large output", "cat " + dir + "/big", time.Minute, big, true},
		{"times out", "echo partial; exec sleep 30", 200 * time.Millisecond, "partial\n", false},
		{"missing", "", time.Minute, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "cmd")
			os.Remove(path)
			if tc.body != "" {
				script(t, path, tc.body)
			}
			start := time.Now()
			out, ok := run(path, []string{"a", "b"}, int64(tc.timeout))
			if took := time.Since(start); took > tc.timeout+5*time.Second {
				t.Errorf("took %v", took)
			}
			if string(out) != tc.want || ok != tc.ok {
				t.Errorf("run = %.80q, %v; want %.80q, %v", out, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestTimeoutKillsInTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cmd")
	script(t, path, "exec sleep 30")
	start := time.Now()
	if _, ok := run(path, nil, int64(300*time.Millisecond)); ok {
		t.Error("ok after timeout")
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
		t.Errorf("killed after %v, want 300ms", took)
	}
}

func TestReadlink(t *testing.T) {
	dir := t.TempDir()
	long := "/" + strings.Repeat("x/", 300) + "target" // longer than the first buffer
	for _, target := range []string{"a", long[:255], long[:256], long[:257], long} {
		link := filepath.Join(dir, "link")
		os.Remove(link)
		must(t, os.Symlink(target, link))
		if got, err := readlink(link); got != target || err != nil {
			t.Errorf("readlink -> %d bytes = %d bytes, %v", len(target), len(got), err)
		}
	}
	if _, err := readlink(filepath.Join(dir, "none")); err == nil {
		t.Error("readlink of nothing succeeded")
	}
}

// TestPathHelpers compares the stand-ins with what they stand in for.
func TestPathHelpers(t *testing.T) {
	for _, p := range []string{"", "/", "//", "iptables", "./iptables", "/usr/sbin/iptables", "/usr/sbin/iptables/", "a//b", "/iptables-wrapper"} {
		if got, want := base(p), filepath.Base(p); got != want {
			t.Errorf("base(%q) = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"/usr/sbin/iptables-wrapper", "/iptables-wrapper", "iptables-wrapper", "a/b"} {
		if got, want := dirname(p), filepath.Dir(p); got != want {
			t.Errorf("dirname(%q) = %q, want %q", p, got, want)
		}
		// The kernel reports the wrapper's path absolute.
		if got, want := join2(dirname(p), "x"), filepath.Join(filepath.Dir(p), "x"); p[0] == '/' && got != want {
			t.Errorf("join2(dirname(%q), x) = %q, want %q", p, got, want)
		}
	}
	for _, s := range []string{"/a/b", "/a/b (deleted)", " (deleted)", "deleted)"} {
		if got, want := trimSuffix(s, " (deleted)"), strings.TrimSuffix(s, " (deleted)"); got != want {
			t.Errorf("trimSuffix(%q) = %q, want %q", s, got, want)
		}
	}
	for _, n := range []int{0, 7, 10, 4194304, -12} {
		if got := itoa(n); got != strconv.Itoa(n) {
			t.Errorf("itoa(%d) = %q", n, got)
		}
	}
	if got, want := join(wrappedNames), fmt.Sprint(wrappedNames); got != want {
		t.Errorf("join = %q, want %q", got, want)
	}
}

func TestSplitNUL(t *testing.T) {
	for in, want := range map[string][]string{
		"":                  nil,
		"iptables\x00":      {"iptables"},
		"a\x00\x00b c\x00":  {"a", "", "b c"},
		"a\x00unterminated": {"a", "unterminated"},
	} {
		if got := splitNUL([]byte(in)); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("splitNUL(%q) = %q, want %q", in, got, want)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	must(t, err)
	_, err = io.Copy(out, in)
	must(t, err)
	must(t, out.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
