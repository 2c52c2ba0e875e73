package report

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestUpgradeBytes(t *testing.T) {
	shared, err := random.Layer(4096, "application/vnd.oci.image.layer.v1.tar+gzip")
	if err != nil {
		t.Fatal(err)
	}
	index := func(extra v1.Layer) v1.ImageIndex {
		img, err := mutate.AppendLayers(empty.Image, shared, extra)
		if err != nil {
			t.Fatal(err)
		}
		return mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	}
	oldL, _ := random.Layer(1000, "application/vnd.oci.image.layer.v1.tar+gzip")
	newL, _ := random.Layer(2000, "application/vnd.oci.image.layer.v1.tar+gzip")
	oldIdx, newIdx := index(oldL), index(newL)

	got, err := UpgradeBytes(oldIdx, newIdx, "linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	img, _ := newIdx.Image(mustFirst(t, newIdx))
	raw, _ := img.RawManifest()
	m, _ := img.Manifest()
	want := int64(len(raw)) + m.Config.Size + m.Layers[1].Size
	if got != want {
		t.Fatalf("got %d, want %d (manifest + config + the one new layer)", got, want)
	}
	if same, _ := UpgradeBytes(newIdx, newIdx, "linux/amd64"); same != int64(len(raw))+m.Config.Size {
		t.Fatalf("same image: %d", same)
	}
	if _, err := UpgradeBytes(oldIdx, newIdx, "linux/arm64"); err == nil {
		t.Fatal("missing platform: want an error")
	}
}

func mustFirst(t *testing.T, idx v1.ImageIndex) v1.Hash {
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests[0].Digest
}
