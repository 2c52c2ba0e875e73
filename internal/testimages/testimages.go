// Package testimages rebuilds the container images that upstream's node conformance specs run,
// for tests that run those specs where no registry on the internet can be reached.
package testimages

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/rootfs"
)

// The images the selected [NodeConformance] specs run, by the names and tags of v1.37.2's
// test/utils/image/manifest.go (not test/images/*/VERSION, which differ), rebuilt from what
// each spec expects of them (test/images/<name>/Dockerfile and the specs' commands):
//   - busybox: upstream's busybox (busybox.go) with every applet linked in /usr/bin (so /bin/sh
//     is busybox ash, whose read-only-rootfs message a spec matches), root, /tmp 1777;
//   - nonroot: busybox as numeric user 1234 (runAsNonRoot refuses non-numeric users);
//   - nonewprivs: busybox plus upstream's nnp, setuid root, as CMD;
//   - glibc-dns-testing: busybox (the specs run `hostname` and `hostname -f` only);
//   - agnhost: upstream's agnhost built from the Kubernetes module, on Debian's bash, curl and
//     netcat-openbsd (the specs run `nc -u`, which busybox's nc lacks) plus busybox for the
//     rest, with upstream's /agnhost-2 link, porter's localhost certificate and its users.
//
// Upstream's bases are Alpine and debian-base; these are cut from signed Debian trixie
// packages by ckubelet's own rootfs stage. amd64 only: the node is this machine's architecture.
const (
	AgnhostTag    = "2.66.1"
	BusyboxTag    = "1.37.0-2"
	NonrootTag    = "1.5"
	NonewprivsTag = "1.4"
	GlibcDNSTag   = "2.1.1"
	// Repository is where KUBE_TEST_REPO_LIST's promoterE2eRegistry serves them, under a
	// registry's address.
	Repository = "e2e-test-images"
)

// Options are what Build needs.
type Options struct {
	CacheDir   string
	Platform   catalog.Platform
	Mirror     string          // Debian mirror (the host's, see debian.HostMirror)
	Kubernetes *gobuild.Source // the Kubernetes source agnhost and nnp are built from
	Go         *gobuild.Go
}

// imageBuilder cuts test images out of Debian packages and Kubernetes sources.
type imageBuilder struct {
	ctx      context.Context
	cacheDir string
	platform catalog.Platform
	debian   *debian.Client
	index    *debian.Index
	k8s      *gobuild.Source
	gocmd    *gobuild.Go
	layers   *oci.Layers
	created  time.Time
}

// Build builds every image, named NAME:TAG (e.g. busybox:1.37.0-2), one platform each.
func Build(ctx context.Context, o Options) ([]output.Named, error) {
	dc, err := debian.NewClient(debian.Source{Mirror: o.Mirror}, filepath.Join(o.CacheDir, "debian"))
	if err != nil {
		return nil, err
	}
	ix, err := dc.Index(ctx, o.Platform.DebianArch())
	if err != nil {
		return nil, err
	}
	created := time.Unix(0, 0).UTC()
	b := &imageBuilder{ctx: ctx, cacheDir: o.CacheDir, platform: o.Platform, debian: dc, index: ix, k8s: o.Kubernetes, gocmd: o.Go,
		layers: &oci.Layers{CacheDir: o.CacheDir, Compression: oci.Zstd, Time: created}, created: created}
	return b.testImages()
}

// packages resolves, fetches and extracts names and their dependencies.
func (b *imageBuilder) packages(names ...string) ([]rootfs.Package, error) {
	resolved, err := b.index.Resolve(names, debian.Exclude(rootfs.NotShipped...))
	if err != nil {
		return nil, err
	}
	var out []rootfs.Package
	for _, p := range resolved {
		dir, err := b.debian.Extracted(b.ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, rootfs.Package{Name: p.Name, Version: p.Version, Arch: p.Architecture, Stanza: p.Stanza, Dir: dir})
	}
	return out, nil
}

// applets lists busybox's applets by asking the binary (built for the host's architecture).
func applets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// userland cuts the commands of pkgs, busybox (busybox.go) with its applets linked in /usr/bin
// where no command of that name is shipped, and the given /etc/passwd and /etc/group, into a
// layer.
func (b *imageBuilder) userland(what string, pkgs []string, commands []string, links map[string]string, passwd, group string) (oci.Layer, error) {
	var extracted []rootfs.Package
	if len(pkgs) > 0 {
		var err error
		if extracted, err = b.packages(pkgs...); err != nil {
			return oci.Layer{}, err
		}
	}
	busybox, err := busyboxBuild{b}.build(b.ctx)
	if err != nil {
		return oci.Layer{}, err
	}
	names, err := applets(busybox)
	if err != nil {
		return oci.Layer{}, err
	}
	spec := rootfs.Spec{Arch: b.platform.DebianArch(), Packages: pkgs, Commands: commands,
		Extra:    map[string]string{"/usr/bin/busybox": busybox},
		Symlinks: map[string]string{}, CACertificates: slices.Contains(pkgs, "ca-certificates")}
	for k, v := range links {
		spec.Symlinks[k] = v
	}
	for _, a := range names {
		p := "/usr/bin/" + a
		if a == "busybox" || slices.Contains(commands, p) || slices.Contains(commands, "/usr/sbin/"+a) || spec.Symlinks[p] != "" {
			continue
		}
		spec.Symlinks[p] = "busybox"
	}
	dir, err := os.MkdirTemp(b.cacheDir, ".testimage-")
	if err != nil {
		return oci.Layer{}, err
	}
	defer os.RemoveAll(dir)
	if _, err := rootfs.Build(spec, extracted, dir); err != nil {
		return oci.Layer{}, fmt.Errorf("%s userland: %w", what, err)
	}
	for name, content := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return oci.Layer{}, err
		}
	}
	entries, err := oci.EntriesFromDir(dir)
	if err != nil {
		return oci.Layer{}, err
	}
	l, err := b.layers.Layer(entries)
	if err != nil {
		return oci.Layer{}, err
	}
	return oci.Layer{Layer: l, CreatedBy: "ckubelet conformance: " + what + " userland: busybox from Debian's source of upstream, " + strings.Join(pkgs, " ")}, nil
}

// program compiles a main package of the Kubernetes module, with extra -ldflags.
func (b *imageBuilder) program(pkg string, ldflags ...string) (string, error) {
	src := *b.k8s
	src.LDFlags = append(slices.Clone(src.LDFlags), ldflags...)
	bin, err := b.gocmd.Build(b.ctx, b.cacheDir, &src, pkg, gobuild.Target{Platform: b.platform})
	return bin.Path, err
}

func (b *imageBuilder) image(layers []oci.Layer, entrypoint, cmd []string, user string) (v1.Image, error) {
	return oci.Image(oci.ImageSpec{Platform: b.platform, Layers: layers, Entrypoint: entrypoint, Cmd: cmd, User: user,
		Env: oci.DefaultEnv, Created: b.created})
}

const (
	rootPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	rootGroup  = "root:x:0:\nnogroup:x:65534:\n"
)

// testImages builds every image.
func (b *imageBuilder) testImages() ([]output.Named, error) {
	base, err := b.userland("busybox", nil, nil, nil, rootPasswd, rootGroup)
	if err != nil {
		return nil, err
	}
	images := map[string]v1.Image{}
	if images["busybox:"+BusyboxTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, ""); err != nil {
		return nil, err
	}
	if images["nonroot:"+NonrootTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, "1234"); err != nil {
		return nil, err
	}
	if images["glibc-dns-testing:"+GlibcDNSTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, ""); err != nil {
		return nil, err
	}

	nnp, err := b.program("./test/images/nonewprivs")
	if err != nil {
		return nil, err
	}
	nnpLayer, err := b.layers.Layer([]oci.Entry{{Path: "/usr/local/bin/nnp", Mode: fs.ModeSetuid | 0o755, Source: nnp}})
	if err != nil {
		return nil, err
	}
	if images["nonewprivs:"+NonewprivsTag], err = b.image([]oci.Layer{base, {Layer: nnpLayer, CreatedBy: "ckubelet conformance: nnp setuid root"}}, nil, []string{"nnp"}, ""); err != nil {
		return nil, err
	}

	agnhost, err := b.agnhost()
	if err != nil {
		return nil, err
	}
	images["agnhost:"+AgnhostTag] = agnhost

	var named []output.Named
	for _, ref := range slices.Sorted(maps.Keys(images)) {
		repo, tag, _ := strings.Cut(ref, ":")
		idx, err := oci.Index([]v1.Image{images[ref]}, nil)
		if err != nil {
			return nil, err
		}
		named = append(named, output.Named{Image: catalog.Image{Repository: repo, Tag: tag}, Index: idx})
	}
	return named, nil
}

// agnhost is upstream's test/images/agnhost: the binary at /agnhost and as /agnhost-2 (the
// entrypoint specs print argv[0]), porter's certificate at /localhost.crt and .key (the https
// hook handlers), /uploads, users 1000 and group 50000 as upstream defines them, on a userland
// with the shell, curl and nc the specs exec.
func (b *imageBuilder) agnhost() (v1.Image, error) {
	ul, err := b.userland("agnhost", []string{"bash", "curl", "netcat-openbsd", "ca-certificates", "netbase"},
		[]string{"/usr/bin/bash", "/usr/bin/curl", "/usr/bin/nc.openbsd"}, map[string]string{"/usr/bin/nc": "nc.openbsd"},
		"root:x:0:0:root:/root:/bin/sh\nuser-defined-in-image:x:1000:50000::/home/user-defined-in-image:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"root:x:0:\ngroup-defined-in-image:x:50000:\nnogroup:x:65534:\n")
	if err != nil {
		return nil, err
	}
	bin, err := b.program("./test/images/agnhost", "-X", "main.Version="+AgnhostTag)
	if err != nil {
		return nil, err
	}
	porter := filepath.Join(b.k8s.Module.Dir, "test/images/agnhost/porter")
	l, err := b.layers.Layer([]oci.Entry{
		oci.File("/agnhost", bin, 0o755),
		{Path: "/agnhost-2", Mode: fs.ModeSymlink | 0o777, Link: "agnhost"},
		oci.File("/localhost.crt", filepath.Join(porter, "localhost.crt"), 0o644),
		oci.File("/localhost.key", filepath.Join(porter, "localhost.key"), 0o644),
		{Path: "/uploads", Mode: fs.ModeDir | 0o777},
	})
	if err != nil {
		return nil, err
	}
	return b.image([]oci.Layer{ul, {Layer: l, CreatedBy: "ckubelet conformance: agnhost " + AgnhostTag + " from " + b.k8s.Module.Path + "@" + b.k8s.Module.Version}},
		[]string{"/agnhost"}, []string{"pause"}, "")
}
