package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the wrapper for the tests that run it.
func TestMain(m *testing.M) {
	if os.Getenv(beWrapper) == "1" {
		main()
	}
	os.Exit(m.Run())
}

const beWrapper = "IPTABLES_WRAPPER_TEST_MAIN"

// wrapperCmd runs link, which leads to a copy of the test binary, as the wrapper.
func wrapperCmd(link string, args ...string) *exec.Cmd {
	cmd := exec.Command(link, args...)
	cmd.Env = append(os.Environ(), beWrapper+"=1")
	return cmd
}

// TestWrapper runs the wrapper through links against fake backends, as it runs in the image.
func TestWrapper(t *testing.T) {
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
		// A save that cannot run leaves the decision to the next call.
		{"legacy save missing", "", "true", "nft", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, os.Args[0], filepath.Join(dir, "iptables-wrapper"))
			for _, name := range wrappedNames {
				must(t, os.Symlink("iptables-wrapper", filepath.Join(dir, name)))
			}
			script := func(name, body string) {
				must(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
			}
			for _, family := range []string{"iptables", "ip6tables"} {
				if tc.legacySave != "" {
					script(family+"-legacy-save", tc.legacySave)
				}
				script(family+"-nft-save", tc.nftSave)
				for _, mode := range []string{"nft", "legacy"} {
					script(family+"-"+mode, `echo "$(basename "$0") $*"`)
				}
			}
			out, err := wrapperCmd(filepath.Join(dir, "iptables"), "-w", "-L", "-n").CombinedOutput()
			if err != nil {
				t.Fatalf("iptables: %v: %s", err, out)
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
		})
	}
}

func TestWrapperUnknownName(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, os.Args[0], filepath.Join(dir, "iptables-wrapper"))
	err := wrapperCmd(filepath.Join(dir, "iptables-wrapper")).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("run as iptables-wrapper: %v, want exit status 2", err)
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
