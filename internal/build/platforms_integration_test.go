//go:build integration && platforms

package build

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOptInPlatforms is the smoke test of the platforms built only on request, linux/ppc64le and
// linux/s390x (make platforms; not in CI, where compiling two more kubelets does not fit): the
// kubelet image builds, and its kubelet and iptables run under qemu-user.
func TestOptInPlatforms(t *testing.T) {
	res := buildTo(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/ppc64le,linux/s390x")
	kubelet := res.Images[0].Index
	km, err := kubelet.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(km.Manifests) != 2 {
		t.Fatalf("want 2 platforms, got %d", len(km.Manifests))
	}
	for _, d := range km.Manifests {
		t.Run(d.Platform.String(), func(t *testing.T) {
			img, err := kubelet.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			root := extract(t, img)
			if out := runInRoot(t, root, d.Platform, "/usr/bin/kubelet", "--version"); strings.TrimSpace(out) != "Kubernetes "+testVersion {
				t.Errorf("kubelet --version printed %q", out)
			}
			if out := runInRoot(t, root, d.Platform, "/usr/sbin/iptables-legacy", "--version"); !strings.Contains(out, "iptables v") {
				t.Errorf("iptables-legacy --version printed %q", out)
			}
		})
	}
}
