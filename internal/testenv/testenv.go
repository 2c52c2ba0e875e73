// Package testenv decides what a test does when the machine lacks a tool it needs: skip on a
// developer's machine, fail in CI. One switch, RequireEnv, which .ci/run sets, turns every such
// skip into a failure, so CI can never pass by skipping what it was meant to run.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireEnv, when set to anything, makes a missing prerequisite fail the test.
const RequireEnv = "CKUBELET_REQUIRE_TOOLS"

// Missing skips t, saying what is missing and how to get it, or fails t under RequireEnv.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set: failing instead of skipping)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// LookPath returns the path of a command; without it the test is Missing it.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed: run hack/setup.sh as root", name)
	}
	return p
}

// Root makes the test Missing root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root")
	}
}
