package rootfs

import (
	"slices"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

func TestKubeletUserland(t *testing.T) {
	for _, p := range catalog.Supported {
		arch := p.DebianArch()
		a, _ := archFor(arch)
		spec := KubeletUserland(arch)
		if spec.Arch != arch || !spec.CACertificates {
			t.Errorf("%s: arch %q, CA %v", arch, spec.Arch, spec.CACertificates)
		}
		for _, c := range kubeletCommands {
			if !slices.Contains(spec.Packages, c.pkg) {
				t.Errorf("%s: %s provides commands but is not in Packages", arch, c.pkg)
			}
		}
		if !slices.Contains(spec.Files, "/usr/lib/"+a.triplet+"/xtables/libxt_*.so") {
			t.Errorf("%s: no xtables modules in %v", arch, spec.Files)
		}
		for _, name := range []string{"iptables", "ip6tables-restore"} {
			if got := spec.Symlinks["/usr/sbin/"+name]; got != "iptables-wrapper" || "/usr/sbin/"+got != IptablesWrapper {
				t.Errorf("%s: %s -> %q, want the wrapper", arch, name, got)
			}
		}
		sorted := slices.Clone(spec.Packages)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(spec.Packages) {
			t.Errorf("%s: duplicate packages in %v", arch, spec.Packages)
		}
		spec.Packages[0] = "changed"
		if KubeletUserland(arch).Packages[0] == "changed" {
			t.Errorf("%s: specs share their package list", arch)
		}
	}
	for _, c := range KubeletUserland("amd64").Commands {
		if providerHint(c) == "" || strings.Contains(c, "nfs") {
			t.Errorf("command %s: hint %q", c, providerHint(c))
		}
	}
	if got := providerHint("/sbin/mkfs.xfs"); got != " (add xfsprogs to Packages)" {
		t.Errorf("hint for /sbin/mkfs.xfs = %q", got)
	}
}
