// Package output writes built images to their destination: an OCI layout directory, an OCI or docker
// archive, or a registry. Files and directories are written beside their destination and renamed into
// place, so a failed or interrupted build leaves the previous output as it was and nothing partial.
package output

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Kind is an output type.
type Kind string

const (
	OCI           Kind = "oci"
	OCIArchive    Kind = "oci-archive"
	DockerArchive Kind = "docker-archive"
	Registry      Kind = "registry"
)

// DefaultTarget is the --output default.
const DefaultTarget = "oci:out/oci"

// Target is a parsed --output value.
type Target struct {
	Kind Kind
	Dest string // directory, file or repository prefix
}

func (t Target) String() string { return string(t.Kind) + ":" + t.Dest }

// ParseTarget parses "KIND:DEST".
func ParseTarget(s string) (Target, error) {
	kind, dest, ok := strings.Cut(s, ":")
	if !ok || dest == "" {
		return Target{}, fmt.Errorf("output %q: want oci:DIR, oci-archive:FILE, docker-archive:FILE or registry:REPO", s)
	}
	switch Kind(kind) {
	case OCI, OCIArchive, DockerArchive:
	case Registry:
		if _, err := name.NewRepository(dest + "/kubelet"); err != nil {
			return Target{}, fmt.Errorf("output %q: %q is not a repository: %w", s, dest, err)
		}
	default:
		return Target{}, fmt.Errorf("output %q: unknown kind %q; want oci, oci-archive, docker-archive or registry", s, kind)
	}
	return Target{Kind: Kind(kind), Dest: dest}, nil
}

// Named is a built multi-platform image and its name.
type Named struct {
	Image catalog.Image
	Index v1.ImageIndex
	// SBOMs describe the index's platform images.
	SBOMs []SBOM
}

// SBOM is one platform image's software bill of materials: written as a file beside file
// outputs, and stored as an OCI artifact referring to the image in layouts and registries.
type SBOM struct {
	FileName string // e.g. "kubelet_v1.37.2-trixie_linux-amd64.spdx.json"
	Data     []byte
	Artifact v1.Image // subject: the platform image
}

// Write stores images at the target. For registry targets Dest is a repository prefix:
// registry:ghcr.io/me pushes ghcr.io/me/kubelet:<tag>.
func Write(ctx context.Context, t Target, images []Named) error {
	if t.Kind == Registry {
		if err := push(ctx, t.Dest, images); err != nil {
			return fmt.Errorf("writing %s: %w", t, err)
		}
		return nil
	}
	// The SBOMs and the images are staged beside their destinations and put in place together:
	// a failure leaves the previous SBOMs and images as they were, never one without the other.
	sboms, err := stageDir(t.Dest+".sbom", func(dir string) error { return writeSBOMFiles(dir, images) })
	if err != nil {
		return fmt.Errorf("writing %s.sbom: %w", t.Dest, err)
	}
	var out *staged
	switch t.Kind {
	case OCI:
		out, err = stageDir(t.Dest, func(dir string) error { return writeLayout(dir, images) })
	case OCIArchive:
		out, err = stageFile(t.Dest, func(f *os.File) error { return writeLayoutArchive(f, images) })
	case DockerArchive:
		out, err = stageDockerArchive(t.Dest, images)
	default:
		err = fmt.Errorf("unknown output kind %q", t.Kind)
	}
	if err == nil {
		err = commitAll(sboms, out)
	} else {
		sboms.cleanup()
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", t, err)
	}
	return nil
}

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

func writeLayout(dir string, images []Named) error {
	p, err := layout.Write(dir, emptyIndex())
	if err != nil {
		return err
	}
	for _, img := range images {
		if err := p.AppendIndex(img.Index, layout.WithAnnotations(map[string]string{
			RefNameAnnotation: img.Image.Ref(),
		})); err != nil {
			return fmt.Errorf("%s: %w", img.Image.Ref(), err)
		}
		for _, sb := range img.SBOMs {
			if err := p.AppendImage(sb.Artifact); err != nil {
				return fmt.Errorf("%s: %w", sb.FileName, err)
			}
		}
	}
	return nil
}

func writeSBOMFiles(dir string, images []Named) error {
	for _, n := range images {
		for _, sb := range n.SBOMs {
			if err := os.WriteFile(filepath.Join(dir, sb.FileName), sb.Data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func stageDockerArchive(file string, images []Named) (*staged, error) {
	var imgs []taggedImage
	for _, n := range images {
		im, err := n.Index.IndexManifest()
		if err != nil {
			return nil, err
		}
		if len(im.Manifests) != 1 {
			return nil, fmt.Errorf("a docker archive holds one platform and %s has %d: pass one --platform", n.Image.Ref(), len(im.Manifests))
		}
		img, err := n.Index.Image(im.Manifests[0].Digest)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, taggedImage{tag: n.Image.Ref(), img: img})
	}
	return stageFile(file, func(f *os.File) error { return writeDockerArchive(f, imgs) })
}

type taggedImage struct {
	tag string
	img v1.Image
}

// writeDockerArchive writes what `docker save` writes, as go-containerregistry's tarball package
// lays it out (config named by its digest, each layer blob once as <hex>.tar.gz or .tar.zst,
// manifest.json last), but in the images' order: tarball.MultiRefWrite follows a map's, so two
// writes of the same images differ.
func writeDockerArchive(w io.Writer, images []taggedImage) error {
	tw := tar.NewWriter(w)
	entry := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: size}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	var manifest tarball.Manifest
	written := map[string]bool{}
	for _, ti := range images {
		cfgName, err := ti.img.ConfigName()
		if err != nil {
			return err
		}
		cfg, err := ti.img.RawConfigFile()
		if err != nil {
			return err
		}
		if !written[cfgName.String()] {
			written[cfgName.String()] = true
			if err := entry(cfgName.String(), int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
				return err
			}
		}
		layers, err := ti.img.Layers()
		if err != nil {
			return err
		}
		d := tarball.Descriptor{Config: cfgName.String(), RepoTags: []string{ti.tag}}
		for _, l := range layers {
			digest, err := l.Digest()
			if err != nil {
				return err
			}
			mt, err := l.MediaType()
			if err != nil {
				return err
			}
			name := digest.Hex + ".tar.gz"
			if mt == types.OCILayerZStd {
				name = digest.Hex + ".tar.zst"
			}
			d.Layers = append(d.Layers, name)
			if written[name] {
				continue
			}
			written[name] = true
			size, err := l.Size()
			if err != nil {
				return err
			}
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			err = entry(name, size, rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("layer %s of %s: %w", digest, ti.tag, err)
			}
		}
		manifest = append(manifest, d)
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := entry("manifest.json", int64(len(m)), bytes.NewReader(m)); err != nil {
		return err
	}
	return tw.Close()
}

func push(ctx context.Context, repo string, images []Named) error {
	for _, n := range images {
		ref, err := name.NewTag(repo + "/" + n.Image.Ref())
		if err != nil {
			return err
		}
		opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
		if err := remote.WriteIndex(ref, n.Index, opts...); err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		// After the index, so that registries that check an artifact's subject find it.
		for _, sb := range n.SBOMs {
			d, err := sb.Artifact.Digest()
			if err != nil {
				return err
			}
			if err := remote.Write(ref.Context().Digest(d.String()), sb.Artifact, opts...); err != nil {
				return fmt.Errorf("pushing %s for %s: %w", sb.FileName, ref, err)
			}
		}
	}
	return nil
}

// tempSibling names temporary outputs so that they are hidden and recognisably ours.
func tempSibling(dest string) (dir, pattern string) {
	return filepath.Dir(dest), "." + filepath.Base(dest) + ".ckubelet-tmp-*"
}
