//go:build integration

package build

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
)

// testVersion is pinned so that the suite does not change when upstream releases.
const testVersion = "v1.37.2"

// cacheDir is shared by every test of this file: the first build compiles, later ones reuse.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ckubelet-it-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildTo(t *testing.T, target string, platforms string) *Result {
	t.Helper()
	ps, err := catalog.ParsePlatforms(platforms)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := output.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{
		KubernetesVersion: testVersion,
		Platforms:         ps,
		Output:            tg,
		Compression:       oci.Gzip,
		CacheDir:          cacheDir,
	})
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
	first := buildTo(t, "oci:"+dir, catalog.DefaultPlatforms)

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
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations[output.RefNameAnnotation] != first.Images[0].Image.Ref() {
		t.Fatalf("layout index: %+v", im.Manifests)
	}
	kubelet, err := idx.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	km, err := kubelet.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(km.Manifests) != 3 {
		t.Fatalf("want 3 platforms, got %d", len(km.Manifests))
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
			if cf.Config.Labels[KubernetesVersionLabel] != testVersion || cf.Config.Entrypoint[0] != "/usr/bin/kubelet" {
				t.Errorf("config: labels %v entrypoint %v", cf.Config.Labels, cf.Config.Entrypoint)
			}
			root := extract(t, img)
			out := runInRoot(t, root, d.Platform, "/usr/bin/kubelet", "--version")
			if strings.TrimSpace(out) != "Kubernetes "+testVersion {
				t.Fatalf("kubelet --version printed %q", out)
			}
		})
	}

	// Reproducibility: a second build into a fresh output gives the same index, byte for byte.
	again := buildTo(t, "oci:"+filepath.Join(t.TempDir(), "oci"), catalog.DefaultPlatforms)
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

// TestPushToRegistry pushes the multi-arch index to an in-process registry and pulls it back.
func TestPushToRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res := buildTo(t, "registry:"+u.Host+"/ckubelet", "linux/amd64,linux/arm64")
	ref, err := name.ParseReference(u.Host + "/ckubelet/" + res.Images[0].Image.Ref())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref)
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

// qemuFor names the qemu-user binary that runs a foreign platform's programs.
var qemuFor = map[string]string{
	"linux/arm64":  "qemu-aarch64-static",
	"linux/arm/v7": "qemu-arm-static",
}

// runInRoot runs a program of an extracted image with chroot; foreign platforms run under
// qemu-user, copied into the root so that the chroot can reach it without binfmt_misc.
func runInRoot(t *testing.T, root string, p *v1.Platform, prog string, args ...string) string {
	t.Helper()
	argv := append([]string{root}, prog)
	if q := qemuFor[p.String()]; q != "" {
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
		t.Fatalf("chroot %v: %v\n%s", argv, err, out)
	}
	return string(out)
}
