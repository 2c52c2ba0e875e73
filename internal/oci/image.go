package oci

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Layer is a layer with the history line describing what it holds.
type Layer struct {
	v1.Layer
	CreatedBy string // e.g. "ckubelet: kubelet v1.37.2 (k8s.io/kubernetes h1:…)"
}

// ImageSpec describes one platform's image. Layers go in the order given: put what changes least
// first, so that rebuilt or sibling images share their leading layers.
type ImageSpec struct {
	Platform   catalog.Platform
	Layers     []Layer
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	Labels     map[string]string
	Created    time.Time
}

// DefaultEnv is the PATH every image gets; kubelet finds host tools through it.
var DefaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// Image assembles an OCI image (OCI manifest and config media types).
func Image(spec ImageSpec) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range spec.Layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l.Layer,
			MediaType: mustMediaType(l.Layer),
			History:   v1.History{CreatedBy: l.CreatedBy, Created: v1.Time{Time: spec.Created}},
		})
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", spec.Platform, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = spec.Platform.OS, spec.Platform.Arch, spec.Platform.Variant
	cf.Created = v1.Time{Time: spec.Created}
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = spec.Env
	cf.Config.User = spec.User
	cf.Config.Labels = spec.Labels
	return mutate.ConfigFile(img, cf)
}

func mustMediaType(l v1.Layer) types.MediaType {
	mt, err := l.MediaType()
	if err != nil {
		return types.OCILayer
	}
	return mt
}

// Index bundles per-platform images into an OCI image index. Annotations go on the index itself.
func Index(images []v1.Image, annotations map[string]string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
			},
		})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx, nil
}
