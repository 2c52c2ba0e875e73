package report

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// UpgradeBytes is what a node holding the old index's image for a platform pulls to get the new
// one: the new manifest and config, and every layer it does not already have.
func UpgradeBytes(oldIdx, newIdx v1.ImageIndex, platform string) (int64, error) {
	oldImg, err := imageOfPlatform(oldIdx, platform)
	if err != nil {
		return 0, err
	}
	newImg, err := imageOfPlatform(newIdx, platform)
	if err != nil {
		return 0, err
	}
	have := map[v1.Hash]bool{}
	oldLayers, err := oldImg.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range oldLayers {
		d, err := l.Digest()
		if err != nil {
			return 0, err
		}
		have[d] = true
	}
	m, err := newImg.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := newImg.RawManifest()
	if err != nil {
		return 0, err
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		if !have[l.Digest] {
			total += l.Size
		}
	}
	return total, nil
}

func imageOfPlatform(idx v1.ImageIndex, platform string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.String() == platform {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no %s image in the index", platform)
}
