package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the wrapper when run through a wrapped name.
func TestMain(m *testing.M) {
	if wrapped(filepath.Base(os.Args[0])) {
		main()
	}
	os.Exit(m.Run())
}

// TestWrapper runs the wrapper through links against fake backends, as it runs in the image.
func TestWrapper(t *testing.T) {
	for _, tc := range []struct {
		name, legacySave, nftSave, want string
	}{
		{"host on nft", "", ":KUBE-IPTABLES-HINT - [0:0]", "nft"},
		{"host on legacy", ":KUBE-KUBELET-CANARY - [0:0]", "", "legacy"},
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
				script(family+"-legacy-save", "echo '"+tc.legacySave+"'")
				script(family+"-nft-save", "echo '"+tc.nftSave+"'")
				for _, mode := range []string{"nft", "legacy"} {
					script(family+"-"+mode, `echo "$(basename "$0") $*"`)
				}
			}
			out, err := exec.Command(filepath.Join(dir, "iptables"), "-w", "-L", "-n").CombinedOutput()
			if err != nil {
				t.Fatalf("iptables: %v: %s", err, out)
			}
			if got, want := strings.TrimSpace(string(out)), "iptables-"+tc.want+" -w -L -n"; got != want {
				t.Errorf("ran %q, want %q", got, want)
			}
			for _, name := range wrappedNames {
				if got, _ := os.Readlink(filepath.Join(dir, name)); got != backend(name, tc.want) {
					t.Errorf("%s -> %s after first call, want %s", name, got, backend(name, tc.want))
				}
			}
		})
	}
}

func TestWrapperUnknownName(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, os.Args[0], filepath.Join(dir, "iptables-wrapper"))
	err := exec.Command(filepath.Join(dir, "iptables-wrapper")).Run()
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
