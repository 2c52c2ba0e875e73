package wrappers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var wrappedNames = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// wrapperBinary compiles the selector for this host, with a save timeout of 2 s: short enough
// for the hang cases, long enough for a fake save on a loaded machine (300 ms failed under load).
func wrapperBinary(t *testing.T) string {
	t.Helper()
	prog := IptablesWrapper()
	prog.Flags = append(prog.Flags, "-DSAVE_TIMEOUT_MS=2000")
	return hostBinary(t, prog)
}

// image lays out dir as the image does: the wrapper and the links to it.
func image(t *testing.T, bin, dir string) {
	t.Helper()
	data, err := os.ReadFile(bin)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "iptables-wrapper"), data, 0o755))
	for _, name := range wrappedNames {
		must(t, os.Symlink("iptables-wrapper", filepath.Join(dir, name)))
	}
}

func script(t *testing.T, path, body string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

const (
	hint   = "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n"
	canary = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n"
	rules2 = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
	rules1 = "*filter\n-A FORWARD -j ACCEPT\nCOMMIT" // no final newline
	decoy  = "*filter\n:KUBE-IPTABLES-HINT-NOT - [0:0]\n-A INPUT -m comment --comment \":KUBE-KUBELET-CANARY\" -j ACCEPT\nCOMMIT\n"
	nftMgl = "iptables-nft-save -t mangle"
	nft6M  = "ip6tables-nft-save -t mangle"
	leg    = "iptables-legacy-save"
	leg6   = "ip6tables-legacy-save"
	nft    = "iptables-nft-save"
	nft6   = "ip6tables-nft-save"
)

// TestChooseMode runs the selector against save commands that print given dumps and record how
// they were called: the decision and the commands it took to reach it.
func TestChooseMode(t *testing.T) {
	bin := wrapperBinary(t)
	for _, tc := range []struct {
		name  string
		dumps map[string]string // command line -> output; the others print nothing
		want  string
		ran   []string
	}{
		{"nothing anywhere", nil, "nft", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
		{"hint in nft", map[string]string{nftMgl: hint, leg: hint}, "nft", []string{nftMgl, nft6M}},
		{"canary in ip6 nft", map[string]string{nft6M: canary}, "nft", []string{nftMgl, nft6M}},
		{"hint in legacy only", map[string]string{leg: hint, nft: rules2}, "legacy", []string{nftMgl, nft6M, leg, leg6}},
		{"canary in ip6 legacy only", map[string]string{leg6: canary}, "legacy", []string{nftMgl, nft6M, leg, leg6}},
		{"no hints, more legacy rules", map[string]string{leg: rules2, nft6: rules1}, "legacy", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
		{"no hints, more nft rules", map[string]string{leg: rules1, nft: rules2}, "nft", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
		{"no hints, tie", map[string]string{leg: rules1, nft6: rules1}, "nft", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
		{"look-alike chains are not hints", map[string]string{leg: decoy, nftMgl: decoy, nft: decoy}, "nft", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
		{"far more output than a pipe holds", map[string]string{leg: strings.Repeat("-A INPUT -j ACCEPT\n", 100000)}, "legacy", []string{nftMgl, nft6M, leg, leg6, nft, nft6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			image(t, bin, dir)
			log := filepath.Join(dir, "ran.log")
			dumps := filepath.Join(t.TempDir(), "dumps")
			must(t, os.Mkdir(dumps, 0o755))
			for line, dump := range tc.dumps {
				must(t, os.WriteFile(filepath.Join(dumps, strings.ReplaceAll(line, " ", "_")), []byte(dump), 0o644))
			}
			for _, family := range []string{"iptables", "ip6tables"} {
				for _, mode := range []string{"nft", "legacy"} {
					script(t, filepath.Join(dir, family+"-"+mode+"-save"), fmt.Sprintf(
						`line="$(basename "$0")${1:+ $*}"; echo "$line" >>%s; f=%s/$(echo "$line" | tr ' ' _); [ ! -f "$f" ] || cat "$f"`, log, dumps))
					script(t, filepath.Join(dir, family+"-"+mode), `echo "$(basename "$0")"`)
				}
			}
			out, err := exec.Command(filepath.Join(dir, "iptables")).CombinedOutput()
			if err != nil {
				t.Fatalf("iptables: %v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "iptables-"+tc.want {
				t.Errorf("ran %s, want iptables-%s", got, tc.want)
			}
			logged, _ := os.ReadFile(log)
			if ran := strings.Split(strings.TrimSpace(string(logged)), "\n"); !slices.Equal(ran, tc.ran) {
				t.Errorf("ran %q, want %q", ran, tc.ran)
			}
		})
	}
}

// TestWrapper runs the wrapper through links against fake backends, as it runs in the image:
// what it runs and whether it rewires the links.
func TestWrapper(t *testing.T) {
	bin := wrapperBinary(t)
	const hang = "echo ':KUBE-IPTABLES-HINT - [0:0]'; exec sleep 30"
	for _, tc := range []struct {
		name       string
		legacySave string // body of the legacy save scripts; "" leaves them out, "-" is not executable
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
			image(t, bin, dir)
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
			out, err := exec.Command(filepath.Join(dir, "iptables"), "-w", "-L", "-n").CombinedOutput()
			if err != nil {
				t.Fatalf("iptables: %v: %s", err, out)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if got, want := strings.TrimSpace(string(out)), "iptables-"+tc.want+" -w -L -n"; got != want {
				t.Errorf("ran %q, want %q", got, want)
			}
			for _, name := range wrappedNames {
				want := "iptables-wrapper"
				if tc.rewired {
					family, suffix, _ := strings.Cut(name, "-")
					want = family + "-" + tc.want + strings.TrimSuffix("-"+suffix, "-")
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
	bin := wrapperBinary(t)
	dir := t.TempDir()
	image(t, bin, dir)
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
	cmd := exec.Command(link, "--noflush", "", "a b", "ü\tx")
	cmd.Args[0] = "ip6tables-restore"
	cmd.Env = append(os.Environ(), "WRAPPER_TEST_VAR=v=1")
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
	bin := wrapperBinary(t)
	dir := t.TempDir()
	image(t, bin, dir)
	for _, family := range []string{"iptables", "ip6tables"} {
		script(t, filepath.Join(dir, family+"-nft-save"), "true")
		script(t, filepath.Join(dir, family+"-legacy-save"), "true")
		script(t, filepath.Join(dir, family+"-nft"), "true")
	}
	must(t, os.Remove(filepath.Join(dir, "ip6tables")))
	must(t, os.Symlink("xtables-legacy-multi", filepath.Join(dir, "ip6tables")))
	must(t, os.Remove(filepath.Join(dir, "iptables-restore")))
	script(t, filepath.Join(dir, "iptables-restore"), "true")
	if out, err := exec.Command(filepath.Join(dir, "iptables")).CombinedOutput(); err != nil {
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

// TestWrapperReplaced runs a wrapper whose file is gone, as when the image's wrapper is replaced
// while a call runs: the kernel reports its path as "/dir/iptables-wrapper (deleted)".
func TestWrapperReplaced(t *testing.T) {
	bin := wrapperBinary(t)
	dir := t.TempDir()
	image(t, bin, dir)
	for _, family := range []string{"iptables", "ip6tables"} {
		script(t, filepath.Join(dir, family+"-nft-save"), "true")
		script(t, filepath.Join(dir, family+"-legacy-save"), "echo ':KUBE-IPTABLES-HINT - [0:0]'")
		script(t, filepath.Join(dir, family+"-legacy"), `echo "$(basename "$0") $*"`)
	}
	// Started from an open descriptor of the file, which is removed first.
	f, err := os.Open(filepath.Join(dir, "iptables-wrapper"))
	must(t, err)
	defer f.Close()
	must(t, os.Remove(filepath.Join(dir, "iptables-wrapper")))
	cmd := exec.Command("/proc/self/fd/3", "-S")
	cmd.Args[0] = "ip6tables"
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "ip6tables-legacy -S\n" {
		t.Fatalf("ran %q, %v", out, err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "iptables-save")); got != "iptables-legacy-save" {
		t.Errorf("iptables-save -> %s, want iptables-legacy-save", got)
	}
}

// TestWrapperErrors checks the one-line messages and exit codes of calls the wrapper cannot serve.
func TestWrapperErrors(t *testing.T) {
	bin := wrapperBinary(t)
	dir := t.TempDir()
	image(t, bin, dir)
	for _, tc := range []struct {
		run, want string
		code      int
	}{
		{"iptables-save", "iptables-wrapper: exec " + dir + "/iptables-nft-save: No such file or directory\n", 1},
		{"iptables-wrapper", `iptables-wrapper: run through a link named iptables, iptables-save, iptables-restore, ip6tables, ip6tables-save or ip6tables-restore, not "iptables-wrapper"` + "\n", 2},
	} {
		out, err := exec.Command(filepath.Join(dir, tc.run)).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.code {
			t.Errorf("%s: %v, want exit status %d", tc.run, err, tc.code)
		}
		if string(out) != tc.want {
			t.Errorf("%s said %q, want %q", tc.run, out, tc.want)
		}
	}
}
