package build

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/cbuild"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/rootfs"
	"github.com/ckubelet/ckubelet/internal/sbom"
	"github.com/ckubelet/ckubelet/internal/version"
	"github.com/ckubelet/ckubelet/internal/wrappers"
)

// Userland is a userland layer and the Debian packages it was cut from.
type Userland struct {
	Layer    oci.Layer
	Packages []debian.Package  // every resolved package of the architecture (what the lock records)
	Manifest *rootfs.Manifest  // the files taken, and from which package
	Binaries map[string]string // Go binaries of the layer: image path -> host path
	Programs []sbom.Program    // C programs ckubelet compiled into the layer
}

// contributing are the resolved packages at least one file of the userland came from.
func (u *Userland) contributing() []debian.Package {
	if u == nil {
		return nil
	}
	var out []debian.Package
	for _, p := range u.Packages {
		if slices.Contains(u.Manifest.Packages, p.Name) {
			out = append(out, p)
		}
	}
	return out
}

// archPackages are an architecture's resolved packages, extracted.
type archPackages struct {
	resolved  []debian.Package
	extracted []rootfs.Package
}

// userlandSpecs are every userland ckubelet builds. Packages are resolved for all of them at
// once, so that one lock file serves any selection of images.
func userlandSpecs(debArch string) []rootfs.Spec {
	return []rootfs.Spec{rootfs.KubeletUserland(debArch), rootfs.KubeProxyUserland(debArch)}
}

// userlandTime stamps userland layers. It must not depend on the Kubernetes version, or the layer
// could not be shared across versions: SOURCE_DATE_EPOCH, else the Unix epoch, as ko and apko do.
func userlandTime() (time.Time, error) {
	if os.Getenv("SOURCE_DATE_EPOCH") == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	return gobuild.BuildDate(&gobuild.Module{})
}

// resolvePackages resolves the userland packages of a platform, checked against the lock.
func (b *builder) resolvePackages(ctx context.Context, p catalog.Platform) ([]debian.Package, error) {
	arch := p.DebianArch()
	if pkgs, ok := b.resolved[arch]; ok {
		return pkgs, nil
	}
	pkgs, err := step(b, fmt.Sprintf("resolve Debian %s/%s", b.opts.Debian.Suite, arch), func() ([]debian.Package, string, error) {
		ix, err := b.debian.Index(ctx, arch)
		if err != nil {
			return nil, "", err
		}
		var names []string
		for _, spec := range userlandSpecs(arch) {
			names = append(names, spec.Packages...)
		}
		slices.Sort(names)
		pkgs, err := ix.Resolve(slices.Compact(names), debian.Exclude(rootfs.NotShipped...))
		if err != nil {
			return nil, "", err
		}
		if b.opts.Lock != nil {
			if err := b.opts.Lock.Check(arch, pkgs); err != nil {
				return nil, "", err
			}
		}
		return pkgs, fmt.Sprintf("%d packages", len(pkgs)), nil
	})
	if err == nil {
		b.resolved[arch] = pkgs
	}
	return pkgs, err
}

// packages resolves, fetches and extracts a platform's userland packages, once per build.
func (b *builder) packages(ctx context.Context, p catalog.Platform) (*archPackages, error) {
	arch := p.DebianArch()
	if ap, ok := b.userlandPackages[arch]; ok {
		return ap, nil
	}
	pkgs, err := b.resolvePackages(ctx, p)
	if err != nil {
		return nil, err
	}
	extracted, err := step(b, fmt.Sprintf("fetch %d Debian packages for %s", len(pkgs), arch), func() ([]rootfs.Package, string, error) {
		out := make([]rootfs.Package, 0, len(pkgs))
		for _, pkg := range pkgs {
			dir, err := b.debian.Extracted(ctx, pkg)
			if err != nil {
				return nil, "", err
			}
			out = append(out, rootfs.Package{Name: pkg.Name, Version: pkg.Version, Arch: pkg.Architecture, Stanza: pkg.Stanza, Dir: dir})
		}
		return out, "", nil
	})
	if err != nil {
		return nil, err
	}
	ap := &archPackages{resolved: pkgs, extracted: extracted}
	b.userlandPackages[arch] = ap
	return ap, nil
}

// programs make ckubelet's own C programs (internal/wrappers) by the image path userland specs
// name them at, for a platform's resolved Debian packages.
var programs = map[string]func(pkgs []debian.Package) (cbuild.Program, error){
	rootfs.IptablesWrapper: func([]debian.Package) (cbuild.Program, error) { return wrappers.IptablesWrapper(), nil },
	rootfs.Modprobe:        func([]debian.Package) (cbuild.Program, error) { return wrappers.Modprobe(), nil },
	// nft reports the release of the libnftables beside it.
	rootfs.Nft: func(pkgs []debian.Package) (cbuild.Program, error) {
		v, err := debian.UpstreamVersion(pkgs, "libnftables1")
		return wrappers.Nft(v), err
	},
}

// debianUserlands cuts userlands out of the build's verified Debian packages.
type debianUserlands struct{ *builder }

// userland cuts one userland (named for progress, e.g. "kubelet") for a platform out of verified
// Debian packages. needs are extra ELF files (a cgo kubelet) whose libraries it must provide.
func (b debianUserlands) userland(ctx context.Context, p catalog.Platform, name string, spec rootfs.Spec, needs []string) (*Userland, error) {
	ap, err := b.packages(ctx, p)
	if err != nil {
		return nil, err
	}
	spec.Extra = map[string]string{}
	var progs []sbom.Program
	for _, path := range spec.Programs {
		makeProg, ok := programs[path]
		if !ok {
			return nil, fmt.Errorf("%s userland: no program of ckubelet's at %s", name, path)
		}
		prog, err := makeProg(ap.resolved)
		if err != nil {
			return nil, fmt.Errorf("%s userland for %s: %w", name, p, err)
		}
		bin, err := step(b.builder, fmt.Sprintf("compile %s %s", prog.Name, p), func() (string, string, error) {
			path, cached, err := cbuild.Build(ctx, b.opts.CacheDir, p, prog)
			return path, cachedNote(cached), err
		})
		if err != nil {
			return nil, err
		}
		spec.Extra[path] = bin
		progs = append(progs, sbom.Program{ImagePath: path, HostPath: bin, Name: prog.Name, Version: version.Version})
	}
	return step(b.builder, fmt.Sprintf("select %s userland %s", name, p), func() (*Userland, string, error) {
		spec.Needs = needs
		dir, err := os.MkdirTemp(b.opts.CacheDir, ".rootfs-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir)
		manifest, err := rootfs.Build(spec, ap.extracted, dir)
		if err != nil {
			return nil, "", fmt.Errorf("%s userland for %s: %w", name, p, err)
		}
		entries, err := oci.EntriesFromDir(dir)
		if err != nil {
			return nil, "", err
		}
		t, err := userlandTime()
		if err != nil {
			return nil, "", err
		}
		layers := &oci.Layers{CacheDir: b.opts.CacheDir, Compression: b.opts.Compression, Time: t}
		l, err := layers.Layer(entries)
		if err != nil {
			return nil, "", err
		}
		return &Userland{
			Layer:    oci.Layer{Layer: l, CreatedBy: userlandHistory(b.opts.Debian.Suite, p.DebianArch(), manifest)},
			Packages: ap.resolved,
			Manifest: manifest,
			Programs: progs,
		}, fmt.Sprintf("%d files from %d packages", len(manifest.Files), len(manifest.Packages)), nil
	})
}

func userlandHistory(suite, arch string, m *rootfs.Manifest) string {
	return fmt.Sprintf("ckubelet: userland from Debian %s/%s: %s", suite, arch, strings.Join(m.Packages, " "))
}
