package build

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/output"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestIndexes(t *testing.T) {
	amd64, arm64 := catalog.Supported[0], catalog.Supported[1]
	pause, kubelet := catalog.PauseImage("3.10.2"), catalog.KubeletImage("v1.37.2", "trixie")
	a, b, c := randomImage(t), randomImage(t), randomImage(t)
	sbom := func(name string) output.SBOM { return output.SBOM{FileName: name} }

	t.Run("grouped by name in first-seen order, platforms in build order", func(t *testing.T) {
		named, err := imageSet{
			{name: kubelet, platform: amd64, image: a, sbom: sbom("k-amd64")},
			{name: pause, platform: amd64, image: b, sbom: sbom("p-amd64")},
			{name: kubelet, platform: arm64, image: c, sbom: sbom("k-arm64")},
		}.indexes()
		if err != nil {
			t.Fatal(err)
		}
		if len(named) != 2 || named[0].Image != kubelet || named[1].Image != pause {
			t.Fatalf("indexes %+v", named)
		}
		im, err := named[0].Index.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		da, _ := a.Digest()
		dc, _ := c.Digest()
		if len(im.Manifests) != 2 || im.Manifests[0].Digest != da || im.Manifests[1].Digest != dc {
			t.Errorf("kubelet index %+v", im.Manifests)
		}
		if len(named[0].SBOMs) != 2 || named[0].SBOMs[1].FileName != "k-arm64" {
			t.Errorf("SBOMs %+v", named[0].SBOMs)
		}
	})

	t.Run("the same image twice appears once", func(t *testing.T) {
		// pause for two Kubernetes versions with the same pause source
		named, err := imageSet{
			{name: pause, platform: amd64, image: b, sbom: sbom("p")},
			{name: pause, platform: amd64, image: b, sbom: sbom("p")},
		}.indexes()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := named[0].Index.IndexManifest()
		if len(im.Manifests) != 1 || len(named[0].SBOMs) != 1 {
			t.Errorf("%d manifests, %d SBOMs; want 1 and 1", len(im.Manifests), len(named[0].SBOMs))
		}
	})

	t.Run("two different images of one name and platform are refused", func(t *testing.T) {
		_, err := imageSet{
			{name: pause, platform: amd64, image: a},
			{name: pause, platform: amd64, image: b},
		}.indexes()
		if err == nil || !strings.Contains(err.Error(), "pause:3.10.2 for linux/amd64 was built twice with different contents") {
			t.Fatalf("error %v", err)
		}
	})
}
