//go:build integration && platforms

package build

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestOptInPlatforms is the smoke test of the platforms built only on request, linux/ppc64le and
// linux/s390x (make platforms; not in CI, where compiling two more kubelets does not fit): the
// kubelet image builds, and its kubelet and iptables run under qemu-user.
func TestOptInPlatforms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	buildTo(t, "oci:"+dir, "linux/ppc64le,linux/s390x")
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	kubelet, err := idx.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
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
