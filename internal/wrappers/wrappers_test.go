package wrappers

import (
	"context"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/cbuild"
	"github.com/ckubelet/ckubelet/internal/testenv"
)

// hostBinary compiles prog for this host, as the build compiles it for an image.
func hostBinary(t *testing.T, prog cbuild.Program) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("a linux program")
	}
	p, err := catalog.ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	bin, _, err := cbuild.Build(context.Background(), t.TempDir(), p, prog)
	if err != nil {
		if strings.Contains(err.Error(), "run hack/setup.sh") {
			testenv.Missing(t, "%v", err)
		}
		t.Fatal(err)
	}
	return bin
}

// runExit runs bin and returns its combined output and exit code.
func runExit(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
