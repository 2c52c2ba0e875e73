//go:build integration

package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/upx"
)

// testCNIPluginsVersion is pinned for the same reason as testVersion.
const testCNIPluginsVersion = "v1.10.0"

// TestCNIMulticallPackedOnEveryPlatform builds the CNI flavors' multicall binary from the real
// plugins release for every platform, packs it as the build ships it, and runs plugins through
// links named after them, the way a container runtime executes them (foreign platforms under
// qemu-user).
func TestCNIMulticallPackedOnEveryPlatform(t *testing.T) {
	ctx := context.Background()
	g := &gobuild.Go{}
	src, err := g.PrepareCNIPlugins(ctx, cacheDir, testCNIPluginsVersion)
	if err != nil {
		t.Fatal(err)
	}
	available, err := gobuild.CNIPlugins(src)
	if err != nil {
		t.Fatal(err)
	}
	multicall, err := gobuild.CNIMulticall(src, available, gobuild.SortedNames(available), cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	packer, err := upx.Find(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	platforms, _ := catalog.ParsePlatforms(testedPlatforms)
	for _, p := range platforms {
		t.Run(strings.ReplaceAll(p.String(), "/", "-"), func(t *testing.T) {
			bin, err := g.Build(ctx, cacheDir, multicall, ".", gobuild.Target{Platform: p})
			if err != nil {
				t.Fatal(err)
			}
			probe := upx.Probe{Args: []string{"bridge"}, Env: []string{"CNI_COMMAND=VERSION"}, Want: "cniVersion"}
			packed, ok, reason := packer.Pack(ctx, bin.Path, p, probe)
			switch {
			case !ok && upxPacks[p.String()]:
				t.Fatalf("not packed: %v", reason)
			case !ok:
				// The probe decides, and the build ships the binary unpacked, saying why.
				t.Logf("%s: not packed: %v", p, reason)
			case !upxPacks[p.String()]:
				t.Logf("%s: packed, and the packed binary ran", p)
			}
			dir := t.TempDir()
			for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
				link := filepath.Join(dir, plugin)
				if err := os.Symlink(packed, link); err != nil {
					t.Fatal(err)
				}
				argv := []string{link}
				if q := qemuFor(p.String()); q != "" {
					argv = append([]string{q}, argv...)
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env = []string{"CNI_COMMAND=VERSION"}
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), `"cniVersion"`) {
					t.Errorf("%s through its link: %v, output %q", plugin, err, out)
				}
			}
			fi, _ := os.Stat(bin.Path)
			pi, _ := os.Stat(packed)
			t.Logf("%s: %d plugins in %d bytes, %d packed", p, len(available), fi.Size(), pi.Size())
		})
	}
}
