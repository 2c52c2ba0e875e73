package bundle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	ckubelet "github.com/ckubelet/ckubelet"
	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/launch"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/version"
)

// unitEngines are the engines whose systemd units a bundle carries: what the OSes ckubelet
// targets ship.
var unitEngines = []launch.Engine{launch.Containerd, launch.Docker, launch.Podman}

// Make builds the bundle of one kubelet flavor for one platform and Kubernetes release: the
// flavor's image with kube-proxy and pause as a docker-archive, ckubelet built for the platform
// from its own source, a systemd unit per engine and the SBOMs. It writes it to dest and returns
// its manifest and SHA-256. o.Output is ignored.
func Make(ctx context.Context, o build.Options, dest string) (*Manifest, string, error) {
	if len(o.Platforms) != 1 || len(o.Selection.Flavors) != 1 {
		return nil, "", errors.New("a bundle is for one platform (--platform) and one kubelet flavor (--flavor)")
	}
	p := o.Platforms[0]
	flavor := o.Selection.Flavors[0]
	o.Selection.KubeProxy, o.Selection.Pause = true, true
	work, err := os.MkdirTemp(filepath.Dir(dest), ".bundle-")
	if err != nil {
		return nil, "", fmt.Errorf("bundle: %w", err)
	}
	defer os.RemoveAll(work)
	images := filepath.Join(work, ImagesFile)
	o.Output = output.Target{Kind: output.DockerArchive, Dest: images}
	res, err := build.Run(ctx, o)
	if err != nil {
		return nil, "", err
	}
	if len(res.Versions) != 1 {
		return nil, "", fmt.Errorf("--kubernetes-version %s names %d releases; a bundle holds one", o.KubernetesVersion, len(res.Versions))
	}
	v := res.Versions[0]
	m := &Manifest{KubernetesVersion: string(v), Platform: p.String(), Flavor: flavor.Name,
		Compression: o.Compression.Format, Ckubelet: version.Version}
	var entrypoint []string
	for _, n := range res.Images {
		switch n.Image.Repository {
		case catalog.FlavorImage(v, flavor, "").Repository:
			m.Kubelet = n.Image.Ref()
			if entrypoint, err = imageEntrypoint(n.Index, p); err != nil {
				return nil, "", err
			}
		case catalog.KubeProxyImage(v, "").Repository:
			m.KubeProxy = n.Image.Ref()
		case catalog.PauseImage("").Repository:
			m.Pause = n.Image.Ref()
		}
	}

	g := &gobuild.Go{Verbose: o.Verbose}
	src, err := g.SelfSource(ctx, ckubelet.Source, ckubelet.Module, o.CacheDir)
	if err != nil {
		return nil, "", fmt.Errorf("ckubelet for %s: %w", p, err)
	}
	bin, err := g.Build(ctx, o.CacheDir, src, "./cmd/ckubelet", gobuild.Target{Platform: p})
	if err != nil {
		return nil, "", fmt.Errorf("ckubelet for %s: %w", p, err)
	}
	files := []File{{Name: ImagesFile, Mode: 0o644, Source: images}, {Name: BinaryFile, Mode: 0o755, Source: bin.Path}}
	for _, e := range unitEngines {
		unit, err := launch.Unit(launch.Options{Engine: e, Image: m.Kubelet}, entrypoint)
		if err != nil {
			return nil, "", fmt.Errorf("systemd unit for %s: %w", e, err)
		}
		files = append(files, File{Name: "systemd/" + string(e) + "/kubelet.service", Mode: 0o644, Data: []byte(unit)})
	}
	sboms, err := os.ReadDir(images + ".sbom")
	if err != nil {
		return nil, "", err
	}
	for _, s := range sboms {
		files = append(files, File{Name: "sbom/" + s.Name(), Mode: 0o644, Source: filepath.Join(images+".sbom", s.Name())})
	}
	if err := Write(dest, *m, files); err != nil {
		return nil, "", err
	}
	sum, err := File{Source: dest}.sha256()
	return m, sum, err
}

// imageEntrypoint is the entrypoint of the index's image for p.
func imageEntrypoint(idx v1.ImageIndex, p catalog.Platform) ([]string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS != p.OS || d.Platform.Architecture != p.Arch || d.Platform.Variant != p.Variant {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		return cf.Config.Entrypoint, nil
	}
	return nil, fmt.Errorf("no %s image in the index", p)
}

// Install checks the bundle, unpacks it, loads its images where the runtime and the CRI
// runtime find them, and starts kubelet from them as `ckubelet run` does with o. Nothing is
// loaded from a bundle that fails its checks. dir keeps the unpacked bundle (replacing what an
// earlier install left there); "" unpacks it into a temporary directory, removed once the
// images are loaded. A printed plan loads from dir, so o.Print needs one.
func Install(ctx context.Context, path, dir string, o launch.Options) error {
	if dir == "" {
		if o.Print {
			return errors.New("--print needs --dir: the script loads the images from the unpacked bundle")
		}
		tmp, err := os.MkdirTemp("", "ckubelet-bundle-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.RemoveAll(dir); err != nil {
		return err
	}
	m, err := Open(path, dir)
	if err != nil {
		return err
	}
	if p, err := catalog.ParsePlatform(m.Platform); err != nil || p.GOARCH() != runtime.GOARCH {
		return fmt.Errorf("bundle %s is for %s, this node is linux/%s: make one with --platform for it", path, m.Platform, runtime.GOARCH)
	}
	o.Image = m.Kubelet
	o.Load = filepath.Join(dir, ImagesFile)
	return launch.Run(ctx, o)
}
