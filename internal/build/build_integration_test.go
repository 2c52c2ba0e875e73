//go:build integration

package build

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/registrytest"
	"github.com/ckubelet/ckubelet/internal/version"
	"github.com/ckubelet/ckubelet/internal/wrappers"
)

// testVersion is pinned so that the suite does not change when upstream releases.
const testVersion = "v1.37.2"

// testedPlatforms are the platforms built and run (under qemu-user) like amd64: the default
// ones and riscv64.
const testedPlatforms = catalog.DefaultPlatforms + ",linux/riscv64"

// upxPacks are the platforms UPX 4 packs Go binaries for; elsewhere its probe decides.
var upxPacks = map[string]bool{"linux/amd64": true, "linux/arm64": true, "linux/arm/v7": true}

// cacheDir is ckubelet's cache ($CKUBELET_CACHE), shared by every test here and by the bundle,
// e2e, conformance and VM tests: the first build compiles, later ones reuse (the cache checks
// every entry). TestReproducibleFromEmptyCaches uses caches of its own.
var cacheDir = DefaultCacheDir()

func options(t *testing.T, target string, platforms string) Options {
	t.Helper()
	ps, err := catalog.ParsePlatforms(platforms)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := output.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		KubernetesVersion: testVersion,
		Selection:         catalog.Selection{Flavors: catalog.Flavors[:1]},
		Platforms:         ps,
		Output:            tg,
		Compression:       oci.Gzip,
		Debian:            debian.Source{Mirror: mirror},
		CacheDir:          cacheDir,
	}
}

func buildTo(t *testing.T, target string, platforms string) *Result {
	t.Helper()
	return buildWith(t, options(t, target, platforms))
}

func buildWith(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range res.Timings {
		t.Logf("%-45s %8.1fs %s", tm.Step, tm.Duration.Seconds(), tm.Note)
	}
	return res
}

// TestBuildAllPlatformsRunsKubelet builds the real image for every platform, then runs each
// platform's kubelet from the extracted image: natively on amd64, under qemu-user elsewhere.
func TestBuildAllPlatformsRunsKubelet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	first := buildTo(t, "oci:"+dir, testedPlatforms)

	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	// index.json names the kubelet index and holds one SBOM artifact per platform image.
	var named []v1.Descriptor
	sboms := 0
	for _, d := range im.Manifests {
		if d.Annotations[output.RefNameAnnotation] != "" {
			named = append(named, d)
		}
		if d.ArtifactType == "application/spdx+json" {
			sboms++
		}
	}
	platforms := len(strings.Split(testedPlatforms, ","))
	if len(named) != 1 || named[0].Annotations[output.RefNameAnnotation] != first.Images[0].Image.Ref() || sboms != platforms {
		t.Fatalf("layout index: %+v", im.Manifests)
	}
	kubelet, err := idx.ImageIndex(named[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	km, err := kubelet.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(km.Manifests) != platforms {
		t.Fatalf("want %d platforms, got %d", platforms, len(km.Manifests))
	}
	for _, d := range km.Manifests {
		t.Run(d.Platform.String(), func(t *testing.T) {
			img, err := kubelet.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.Labels[catalog.KubernetesVersionLabel] != testVersion || cf.Config.Entrypoint[0] != "/usr/bin/kubelet" {
				t.Errorf("config: labels %v entrypoint %v", cf.Config.Labels, cf.Config.Entrypoint)
			}
			root := extract(t, img)
			out := runInRoot(t, root, d.Platform, "/usr/bin/kubelet", "--version")
			if strings.TrimSpace(out) != "Kubernetes "+testVersion {
				t.Fatalf("kubelet --version printed %q", out)
			}
			checkUserland(t, root, d.Platform)
		})
	}

	// Reproducibility: a second build into a fresh output gives the same index, byte for byte.
	again := buildTo(t, "oci:"+filepath.Join(t.TempDir(), "oci"), testedPlatforms)
	a, _ := first.Images[0].Index.Digest()
	b, _ := again.Images[0].Index.Digest()
	if a != b {
		t.Fatalf("index digests differ between builds: %s and %s", a, b)
	}
	for _, tm := range again.Timings {
		if strings.HasPrefix(tm.Step, "compile ") && tm.Note != "cached" {
			t.Errorf("rebuild with nothing changed compiled again: %s", tm.Step)
		}
	}
}

// TestDockerArchiveRunsInContainerd imports the docker-archive into a real containerd and runs
// kubelet --version in a container.
func TestDockerArchiveRunsInContainerd(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "kubelet.tar")
	res := buildTo(t, "docker-archive:"+archive, "linux/amd64")
	d := containerdtest.Start(t)
	refs := d.Import(t, archive)
	want := res.Images[0].Image.Ref()
	var ref string
	for _, r := range refs {
		if strings.HasSuffix(r, want) {
			ref = r
		}
	}
	if ref == "" {
		t.Fatalf("imported %v, want one ending in %s", refs, want)
	}
	// The image's entrypoint carries kubelet's default flags; --version is appended and wins.
	out, err := d.Run(t, ref, "--version")
	if err != nil {
		t.Fatalf("running %s: %v\n%s", ref, err, out)
	}
	if !strings.Contains(out, "Kubernetes "+testVersion) {
		t.Fatalf("kubelet --version in containerd printed %q", out)
	}
}

// TestPushToRegistry pushes the multi-arch index to Debian's docker-registry behind htpasswd,
// with credentials from a docker config, and pulls it back.
func TestPushToRegistry(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{User: "ckubelet", Password: "s3cret"})
	config := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ckubelet:s3cret"))
	if err := os.WriteFile(filepath.Join(config, "config.json"), []byte(`{"auths":{"`+reg.Addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", config)
	res := buildTo(t, "registry:"+reg.Addr+"/ckubelet", "linux/amd64,linux/arm64")
	ref, err := name.ParseReference(reg.Addr + "/ckubelet/" + res.Images[0].Image.Ref())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := pulled.Digest()
	want, _ := res.Images[0].Index.Digest()
	if got != want {
		t.Fatalf("pulled %s, pushed %s", got, want)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("pulled index has %d manifests, want 2", len(im.Manifests))
	}
}

// extract flattens an image into a directory.
func extract(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return root
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// qemuFor names the qemu-user binary that runs a platform's programs here, "" where they run
// natively.
func qemuFor(platform string) string {
	p, err := catalog.ParsePlatform(platform)
	if err != nil || p.GOARCH() == runtime.GOARCH {
		return ""
	}
	q, _ := p.Qemu()
	return q
}

// runInRoot runs a program of an extracted image with chroot; foreign platforms run under
// qemu-user, copied into the root so that the chroot can reach it without binfmt_misc.
func runInRoot(t *testing.T, root string, p *v1.Platform, prog string, args ...string) string {
	t.Helper()
	argv := append([]string{root}, prog)
	if q := qemuFor(p.String()); q != "" {
		qemu, err := exec.LookPath(q)
		if err != nil {
			t.Fatalf("%s is needed to run %s binaries: run hack/setup.sh", q, p)
		}
		data, err := os.ReadFile(qemu)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, q), data, 0o755); err != nil {
			t.Fatal(err)
		}
		argv = append([]string{root, "/" + q}, prog)
	}
	out, err := exec.Command("chroot", append(argv, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %v %v: %v\n%s", argv, args, err, out)
	}
	return string(out)
}

// checkUserland runs the image's own storage and firewall tools the way kubelet does.
func checkUserland(t *testing.T, root string, p *v1.Platform) {
	t.Helper()
	// The tools read /proc (mounts, the wrapper's own path) and /dev/null, as in any container.
	for _, m := range []struct{ src, dst, fstype string }{{"proc", "proc", "proc"}, {"/dev", "dev", ""}} {
		dst := filepath.Join(root, m.dst)
		os.MkdirAll(dst, 0o755)
		args := []string{"-t", m.fstype, m.src, dst}
		if m.fstype == "" {
			args = []string{"--rbind", m.src, dst}
		}
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-R", dst).Run() })
	}
	run := func(prog string, args ...string) string { return runInRoot(t, root, p, prog, args...) }
	type check struct {
		prog string
		args []string
		want string
	}
	checks := []check{
		{"/usr/bin/mount", []string{"--version"}, "mount from util-linux"},
		{"/usr/sbin/blkid", []string{"-V"}, "blkid from util-linux"},
		{"/usr/sbin/losetup", []string{"--version"}, "losetup from util-linux"},
		{"/usr/sbin/mkfs.xfs", []string{"-V"}, "mkfs.xfs version"},
		{"/usr/sbin/iptables-legacy", []string{"--version"}, "iptables v"}, // nft needs netlink, which qemu-user lacks
		{"/usr/sbin/ip6tables-legacy-save", []string{"--version"}, "ip6tables-save v"},
	}
	// The mode selector execs the backend it picks; under qemu-user without binfmt_misc a foreign
	// binary cannot exec another, so the selector itself runs where the platform is native.
	if qemuFor(p.String()) == "" {
		checks = append(checks,
			check{"/usr/sbin/iptables", []string{"--version"}, "iptables v"},
			check{"/usr/sbin/ip6tables-save", []string{"--version"}, "ip6tables-save v"})
	}
	for _, tc := range checks {
		if out := run(tc.prog, tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("%s %v printed %q, want %q", tc.prog, tc.args, out, tc.want)
		}
	}
	// Format a file image, identify it and check it, as kubelet's mount-utils does for a volume.
	disk := filepath.Join(root, "tmp", "disk.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 32<<20); err != nil {
		t.Fatal(err)
	}
	run("/usr/sbin/mkfs.ext4", "-q", "-F", "/tmp/disk.img")
	if out := run("/usr/sbin/blkid", "-p", "/tmp/disk.img"); !strings.Contains(out, `TYPE="ext4"`) {
		t.Errorf("blkid -p on the new filesystem printed %q", out)
	}
	run("/usr/sbin/fsck.ext4", "-n", "/tmp/disk.img")
	run("/usr/sbin/resize2fs", "-P", "/tmp/disk.img")
}

// TestIptablesRuleWithMatchExtension creates and removes a real rule with the image's iptables
// (through the mode selector and a dlopen'ed match extension) in a network namespace of its own.
func TestIptablesRuleWithMatchExtension(t *testing.T) {
	res := buildTo(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	im, err := res.Images[0].Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := res.Images[0].Index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	root := extract(t, img)
	proc := filepath.Join(root, "proc")
	os.MkdirAll(proc, 0o755)
	script := `set -e
mount -t proc proc "$1/proc"
r="$1"
chroot "$r" /usr/sbin/iptables -N CKUBELET-TEST
chroot "$r" /usr/sbin/iptables -A CKUBELET-TEST -p tcp -m comment --comment "ckubelet test rule" -j RETURN
chroot "$r" /usr/sbin/iptables -S CKUBELET-TEST
chroot "$r" /usr/sbin/iptables -F CKUBELET-TEST
chroot "$r" /usr/sbin/iptables -X CKUBELET-TEST
echo "--- after removal"
chroot "$r" /usr/sbin/iptables-save
umount "$r/proc"
`
	// A new mount namespace keeps /proc private; a new network namespace keeps the host's rules untouched.
	out, err := exec.Command("unshare", "--mount", "--net", "sh", "-c", script, "sh", root, root).CombinedOutput()
	if err != nil {
		t.Fatalf("iptables in the image: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `-A CKUBELET-TEST -p tcp -m comment --comment "ckubelet test rule" -j RETURN`) {
		t.Fatalf("rule not listed back:\n%s", out)
	}
	_, after, _ := strings.Cut(string(out), "--- after removal")
	if strings.Contains(after, "CKUBELET-TEST") {
		t.Fatalf("chain left behind:\n%s", out)
	}
}

// TestLockRoundTrip: a lock written and read back reproduces the same userland layer; a lock the
// archive no longer matches fails the build, naming the package, and writes nothing.
func TestLockRoundTrip(t *testing.T) {
	o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	plain := buildWith(t, o)

	lock, err := ResolveLock(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := lock.Write(&buf); err != nil {
		t.Fatal(err)
	}
	read, err := debian.ReadLock(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	o.Lock = read
	o.Output.Dest = filepath.Join(t.TempDir(), "oci")
	locked := buildWith(t, o)
	want := layerDigest(t, plain, 0)
	if got := layerDigest(t, locked, 0); got != want {
		t.Fatalf("userland layer with the lock %s, without %s", got, want)
	}

	stale := strings.Replace(buf.String(), "Package: iptables\nVersion: ", "Package: iptables\nVersion: 0.0-stale+", 1)
	if stale == buf.String() {
		t.Fatal("lock has no iptables entry")
	}
	if o.Lock, err = debian.ReadLock(strings.NewReader(stale)); err != nil {
		t.Fatal(err)
	}
	o.Output.Dest = filepath.Join(t.TempDir(), "oci")
	_, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "iptables") {
		t.Fatalf("build with a stale lock: %v", err)
	}
	if _, statErr := os.Stat(o.Output.Dest); !os.IsNotExist(statErr) {
		t.Fatalf("failed build left %s", o.Output.Dest)
	}
}

// layerDigest is the digest of layer i of a result's first platform image.
func layerDigest(t *testing.T, res *Result, i int) v1.Hash {
	t.Helper()
	im, err := res.Images[0].Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := res.Images[0].Index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBuildInfoNamesReleases reads the build info of every Go binary of the images with `go
// version -m`: each names its component's module at its release (Kubernetes', crictl's, the CNI
// plugins'), ckubelet's helpers at ckubelet's version, and the SBOM's purls say the same.
func TestBuildInfoNamesReleases(t *testing.T) {
	o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	o.Selection, _ = catalog.ParseSelection("kubeadm-cni,kube-proxy")
	res := buildWith(t, o)
	kubelet := imageFor(t, res.Image("kubelet:"+testVersion+"-kubeadm-cni-trixie"), "linux/amd64")
	proxy := imageFor(t, res.Image("kube-proxy:"+testVersion+"-trixie"), "linux/amd64")
	roots := map[string]string{"kubelet": extract(t, kubelet), "kube-proxy": extract(t, proxy)}
	for _, tc := range []struct{ image, path, module, version string }{
		{"kubelet", catalog.KubeletBinary, "k8s.io/kubernetes", testVersion},
		{"kubelet", catalog.KubeadmBinary, "k8s.io/kubernetes", testVersion},
		{"kubelet", catalog.CrictlBinary, gobuild.CRIToolsModule, "v1.37.0"},
		{"kubelet", catalog.CNIBinDir + "/" + gobuild.MulticallName, gobuild.CNIPluginsModule, testCNIPluginsVersion},
		{"kubelet", catalog.CNIInstallBinary, wrappers.CNIInstallModule, version.Version},
		{"kube-proxy", catalog.KubeProxyBinary, "k8s.io/kubernetes", testVersion},
	} {
		t.Run(tc.path, func(t *testing.T) {
			out, err := exec.Command("go", "version", "-m", filepath.Join(roots[tc.image], tc.path)).CombinedOutput()
			if err != nil {
				t.Fatalf("go version -m: %v\n%s", err, out)
			}
			line := fmt.Sprintf("\t%s\t%s\t%s\th1:", "mod", tc.module, tc.version)
			if tc.module == gobuild.CNIPluginsModule {
				line = fmt.Sprintf("\tdep\t%s\t%s\th1:", tc.module, tc.version) // the multicall's plugins
			}
			if !strings.Contains(string(out), line) {
				t.Errorf("go version -m %s:\n%s\nwant a line %q", tc.path, out, line)
			}
		})
	}
	sb := string(res.Image("kubelet:" + testVersion + "-kubeadm-cni-trixie").SBOMs[0].Data)
	// The iptables mode selector is C: no build info, named by the SBOM at ckubelet's version.
	for _, purl := range []string{"pkg:golang/k8s.io/kubernetes@" + testVersion, "pkg:golang/sigs.k8s.io/cri-tools@v1.37.0",
		"pkg:generic/ckubelet/iptables-wrapper@" + version.Version} {
		if !strings.Contains(sb, `"`+purl+`"`) {
			t.Errorf("the SBOM has no purl %s", purl)
		}
	}
}

// TestReproducibleFromEmptyCaches builds the same images twice, each with a ckubelet cache of
// its own that starts empty: the digests are the same.
func TestReproducibleFromEmptyCaches(t *testing.T) {
	var digests [2][]string
	for i := range digests {
		o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
		o.Selection, _ = catalog.ParseSelection("cni,pause")
		o.CacheDir = t.TempDir()
		for _, n := range buildWith(t, o).Images {
			d, err := n.Index.Digest()
			if err != nil {
				t.Fatal(err)
			}
			digests[i] = append(digests[i], n.Image.Ref()+"@"+d.String())
		}
	}
	if !slices.Equal(digests[0], digests[1]) || len(digests[0]) != 2 {
		t.Errorf("first build %q, second %q", digests[0], digests[1])
	}
}
