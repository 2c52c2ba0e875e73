// Package report measures built images: what a node downloads (compressed) and what it stores
// (extracted), per platform.
package report

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Size is one platform image's measured size.
type Size struct {
	Platform   string
	Digest     v1.Hash
	Compressed int64 // manifest + config + compressed layers: the bytes a pull transfers
	Extracted  int64 // uncompressed layers: the bytes a node unpacks
	Layers     []LayerSize
}

// LayerSize is one layer of a measured image.
type LayerSize struct {
	Digest     v1.Hash
	CreatedBy  string // the image history's entry for the layer
	Compressed int64
	Extracted  int64
}

// MiB formats bytes in MiB with two decimals, the unit of the original project's tables.
func MiB(n int64) string { return fmt.Sprintf("%.2f", float64(n)/(1<<20)) }

// IndexSizes measures every platform image of an index, in index order.
func IndexSizes(idx v1.ImageIndex) ([]Size, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Size
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		s, err := ImageSize(img)
		if err != nil {
			return nil, err
		}
		if d.Platform != nil {
			s.Platform = d.Platform.String()
		}
		out = append(out, s)
	}
	return out, nil
}

// ImageSize measures one image; extracted size is counted by decompressing each layer.
func ImageSize(img v1.Image) (Size, error) { return imageSize(img, nil) }

// imageSize is ImageSize with a cache of extracted sizes by compressed layer digest: the flavors
// of one version share their base layers, and decompressing each of them once per image would
// multiply the time a report takes. A nil cache measures every layer.
func imageSize(img v1.Image, extracted map[v1.Hash]int64) (Size, error) {
	var s Size
	var err error
	if s.Digest, err = img.Digest(); err != nil {
		return s, err
	}
	m, err := img.Manifest()
	if err != nil {
		return s, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return s, err
	}
	s.Compressed = int64(len(raw)) + m.Config.Size
	layers, err := img.Layers()
	if err != nil {
		return s, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return s, err
	}
	history := layerHistory(cf.History)
	for i, l := range layers {
		ls := LayerSize{}
		if ls.Digest, err = l.Digest(); err != nil {
			return s, err
		}
		if ls.Compressed, err = l.Size(); err != nil {
			return s, err
		}
		if ls.Extracted, err = layerExtracted(l, extracted); err != nil {
			return s, err
		}
		if i < len(history) {
			ls.CreatedBy = history[i]
		}
		s.Compressed += ls.Compressed
		s.Extracted += ls.Extracted
		s.Layers = append(s.Layers, ls)
	}
	return s, nil
}

// layerHistory lists the created-by of the history entries that made a layer, in layer order.
func layerHistory(h []v1.History) []string {
	var out []string
	for _, e := range h {
		if !e.EmptyLayer {
			out = append(out, e.CreatedBy)
		}
	}
	return out
}

// layerExtracted counts a layer's uncompressed bytes, from the cache when it has them.
func layerExtracted(l v1.Layer, cache map[v1.Hash]int64) (int64, error) {
	var d v1.Hash
	if cache != nil {
		var err error
		if d, err = l.Digest(); err != nil {
			return 0, err
		}
		if n, ok := cache[d]; ok {
			return n, nil
		}
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil {
		return 0, err
	}
	if cache != nil {
		cache[d] = n
	}
	return n, nil
}
