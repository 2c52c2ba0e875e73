package sbom

import (
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MediaType is the media type of an SPDX JSON document, used as the artifact's layer media type and
// its artifactType.
const MediaType = "application/spdx+json"

// FileName names the SBOM layer (org.opencontainers.image.title), so that `oras pull` and similar
// tools write it to a sensible file.
const FileName = "sbom.spdx.json"

// emptyConfig is the OCI 1.1 empty descriptor's content: artifacts without a config of their own
// point at it.
var emptyConfig = []byte("{}")

// Artifact returns an OCI 1.1 artifact manifest carrying sbom as its single layer, with
// artifactType MediaType, the empty config, and subject set to the image's descriptor, so that a
// registry lists it through the referrers API of that image.
//
// go-containerregistry v0.22.1 has mutate.Subject and mutate.ConfigMediaType but no ArtifactType
// helper for images, and starting from empty.Image would keep its Docker config JSON as the config
// blob (ConfigMediaType only relabels it) instead of "{}". v1.Manifest does have ArtifactType and
// Subject fields, so the manifest is written here and partial.CompressedToImage supplies the rest
// of v1.Image; the result writes to registries and layouts like any image.
func Artifact(sbom []byte, subject v1.Descriptor) (v1.Image, error) {
	if len(sbom) == 0 {
		return nil, errors.New("sbom: empty SBOM")
	}
	if subject.MediaType == "" || subject.Size <= 0 || subject.Digest.Hex == "" {
		return nil, fmt.Errorf("sbom: subject %+v: media type, size and digest are required", subject)
	}
	layer := static.NewLayer(sbom, MediaType)
	config := static.NewLayer(emptyConfig, types.OCIEmptyJSON)
	layerDesc, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	layerDesc.Annotations = map[string]string{"org.opencontainers.image.title": FileName}
	configDesc, err := partial.Descriptor(config)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  MediaType,
		Config:        *configDesc,
		Layers:        []v1.Descriptor{*layerDesc},
		// Only what identifies the image: a platform or annotations copied from an index entry
		// would make the artifact's digest depend on where the caller found the descriptor.
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, config: config, layer: layer})
}

// artifact is the partial.CompressedImageCore of an SBOM artifact.
type artifact struct {
	manifest      []byte
	config, layer v1.Layer
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (a *artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

func (a *artifact) RawConfigFile() ([]byte, error) { return emptyConfig, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.layer, a.config} {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("sbom artifact: no blob %s", h)
}
