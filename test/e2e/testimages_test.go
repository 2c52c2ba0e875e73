//go:build conformance

package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/rootfs"
)

// The images the selected [NodeConformance] specs run, by the names and tags of v1.37.2's
// test/utils/image/manifest.go (not test/images/*/VERSION, which differ), rebuilt from what
// each spec expects of them (test/images/<name>/Dockerfile and the specs' commands):
//   - busybox: Debian's busybox-static with every applet linked in /usr/bin (so /bin/sh is
//     busybox ash, whose read-only-rootfs message a spec matches), root, /tmp 1777;
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
	agnhostTag     = "2.66.1"
	busyboxTag     = "1.37.0-2"
	nonrootTag     = "1.5"
	nonewprivsTag  = "1.4"
	glibcDNSTag    = "2.1.1"
	e2eImagesRepo  = "e2e-test-images"
	busyboxPackage = "busybox-static"
)

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

// applets lists busybox's applets by asking the extracted binary (the host's architecture).
func applets(pkgs []rootfs.Package) ([]string, error) {
	for _, p := range pkgs {
		if p.Name != busyboxPackage {
			continue
		}
		out, err := exec.Command(filepath.Join(p.Dir, "usr/bin/busybox"), "--list").Output()
		if err != nil {
			return nil, fmt.Errorf("busybox --list: %w", err)
		}
		return strings.Fields(string(out)), nil
	}
	return nil, fmt.Errorf("%s not among the packages", busyboxPackage)
}

// userland cuts the commands of pkgs, busybox's applets linked in /usr/bin where no command of
// that name is shipped, and the given /etc/passwd and /etc/group, into a layer.
func (b *imageBuilder) userland(what string, pkgs []string, commands []string, links map[string]string, passwd, group string) (oci.Layer, error) {
	extracted, err := b.packages(append([]string{busyboxPackage}, pkgs...)...)
	if err != nil {
		return oci.Layer{}, err
	}
	names, err := applets(extracted)
	if err != nil {
		return oci.Layer{}, err
	}
	spec := rootfs.Spec{Arch: b.platform.DebianArch(), Packages: pkgs, Commands: append([]string{"/usr/bin/busybox"}, commands...),
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
	return oci.Layer{Layer: l, CreatedBy: "ckubelet conformance: " + what + " userland from Debian " + strings.Join(append([]string{busyboxPackage}, pkgs...), " ")}, nil
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

// testImages builds every image, named as KUBE_TEST_REPO_LIST's promoterE2eRegistry serves them.
func (b *imageBuilder) testImages() ([]output.Named, error) {
	base, err := b.userland("busybox", nil, nil, nil, rootPasswd, rootGroup)
	if err != nil {
		return nil, err
	}
	images := map[string]v1.Image{}
	if images["busybox:"+busyboxTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, ""); err != nil {
		return nil, err
	}
	if images["nonroot:"+nonrootTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, "1234"); err != nil {
		return nil, err
	}
	if images["glibc-dns-testing:"+glibcDNSTag], err = b.image([]oci.Layer{base}, nil, []string{"sh"}, ""); err != nil {
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
	if images["nonewprivs:"+nonewprivsTag], err = b.image([]oci.Layer{base, {Layer: nnpLayer, CreatedBy: "ckubelet conformance: nnp setuid root"}}, nil, []string{"nnp"}, ""); err != nil {
		return nil, err
	}

	agnhost, err := b.agnhost()
	if err != nil {
		return nil, err
	}
	images["agnhost:"+agnhostTag] = agnhost

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
	bin, err := b.program("./test/images/agnhost", "-X", "main.Version="+agnhostTag)
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
	return b.image([]oci.Layer{ul, {Layer: l, CreatedBy: "ckubelet conformance: agnhost " + agnhostTag + " from " + b.k8s.Module.Path + "@" + b.k8s.Module.Version}},
		[]string{"/agnhost"}, []string{"pause"}, "")
}

// newImageBuilder prepares the Debian index and the Kubernetes source the test images need.
func newImageBuilder(t *testing.T, ctx context.Context) *imageBuilder {
	t.Helper()
	p, err := catalog.ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := debian.NewClient(debian.Source{Mirror: mirror}, filepath.Join(cacheDir(), "debian"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := dc.Index(ctx, p.DebianArch())
	if err != nil {
		t.Fatal(err)
	}
	g := &gobuild.Go{}
	k8s, err := g.PrepareKubernetes(ctx, cacheDir(), testVersion)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(0, 0).UTC()
	return &imageBuilder{ctx: ctx, cacheDir: cacheDir(), platform: p, debian: dc, index: ix, k8s: k8s, gocmd: g,
		layers: &oci.Layers{CacheDir: cacheDir(), Compression: oci.Zstd, Time: created}, created: created}
}

// TestConformanceImages builds the test images and runs, in a real containerd, what the specs
// run in them: a quick check before the suite's hour.
func TestConformanceImages(t *testing.T) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	named, err := b.testImages()
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := output.Write(ctx, output.Target{Kind: output.DockerArchive, Dest: archive}, named); err != nil {
		t.Fatal(err)
	}
	d := containerdtest.Start(t)
	d.Import(t, archive)
	ref := func(name string) string { return "docker.io/library/" + name }
	for _, tc := range []struct {
		image string
		opts  containerdtest.RunOptions
		args  []string
		want  string
	}{
		{"busybox:" + busyboxTag, containerdtest.RunOptions{}, []string{"sh", "-c", `[[ "x" == "x" ]] && echo ok; sysctl kernel.shm_rmid_forced; echo -n de | hexdump -C | head -1`}, "ok\nkernel.shm_rmid_forced = "},
		{"busybox:" + busyboxTag, containerdtest.RunOptions{CtrFlags: []string{"--read-only"}}, []string{"/bin/sh", "-c", "echo test > /file"}, "/bin/sh: can't create /file: Read-only file system"},
		{"nonroot:" + nonrootTag, containerdtest.RunOptions{Entrypoint: []string{}}, []string{"id", "-u"}, "1234"},
		{"agnhost:" + agnhostTag, containerdtest.RunOptions{}, []string{"entrypoint-tester", "a"}, "[/agnhost entrypoint-tester a]"},
		{"agnhost:" + agnhostTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/bash", "-c"}}, []string{"curl --version | head -1; echo hi | nc -u -w 1 127.0.0.1 9 ; ls /agnhost-2 /localhost.crt"}, "/agnhost-2\n/localhost.crt"},
		// ctr cannot set a user: the setuid bit, then nnp run as nobody through su.
		{"nonewprivs:" + nonewprivsTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/sh", "-c"}, CtrFlags: []string{"--allow-new-privs"}}, []string{"stat -c %a /usr/local/bin/nnp; su -s /bin/sh nobody -c nnp"}, "4755\nEffective uid: 0"},
	} {
		t.Run(tc.image+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			// Some commands fail on purpose (writing to a read-only root): the output decides.
			out, err := d.RunWith(t, tc.opts, ref(tc.image), tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%v\n%s\nwant %q", err, out, tc.want)
			}
		})
	}
}

// TestSuiteBuilds builds e2e.test and ginkgo and counts the selection with a dry run.
func TestSuiteBuilds(t *testing.T) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	s, err := buildSuite(ctx, b.gocmd, cacheDir(), b.k8s, b.platform, filepath.Join(repoRoot(), "out", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(s.e2eTest, "--provider=skeleton", "--ginkgo.dry-run", "--ginkgo.focus="+focus, "--ginkgo.skip="+skip).CombinedOutput()
	t.Logf("ginkgo %s; dry run: %s", s.ginkgoVersion, lastLines(string(out), 3))
	if err != nil {
		t.Fatal(err)
	}
}
