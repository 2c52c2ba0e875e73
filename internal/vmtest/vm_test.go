//go:build vm

package vmtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	ckbuild "github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/debian"
)

// TestVMRun checks the guest channel the VM tests trust for every assertion: each command's
// whole output, small or large, in order, and a reboot that really boots again.
func TestVMRun(t *testing.T) {
	CheckHost(t)
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	img, err := BuildImage(context.Background(), ImageOptions{Mirror: mirror, CacheDir: ckbuild.DefaultCacheDir()}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	vm := Boot(t, img, BootOptions{})
	for i := range 20 {
		if out := vm.MustRun(t, fmt.Sprintf("echo %d; echo %d >&2", i, i)); out != fmt.Sprintf("%d\n%d\n", i, i) {
			t.Errorf("echo %d: output %q", i, out)
		}
	}
	if out := vm.MustRun(t, "seq 100000"); strings.Count(out, "\n") != 100000 || !strings.HasSuffix(out, "\n100000\n") {
		t.Errorf("seq 100000: %d lines, ends %q", strings.Count(out, "\n"), out[max(0, len(out)-20):])
	}
	before := vm.MustRun(t, "cat "+bootIDFile)
	vm.Reboot(t)
	if after := vm.MustRun(t, "cat "+bootIDFile); after == before || len(after) < 36 {
		t.Errorf("boot ID %q after the reboot, was %q", after, before)
	}
}
