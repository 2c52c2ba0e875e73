//go:build integration

package build_test

import (
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ckubelet "github.com/ckubelet/ckubelet"
	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/bundle"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/launch"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/version"
)

// TestBundle is in the build package's test binary, after the build tests, so that it reuses
// the kubelets they compiled into the shared cache instead of compiling them at the same time.
// It makes a real bundle for linux/arm64 twice (the same bytes), runs the ckubelet it
// carries under qemu-user, refuses an altered copy before loading anything, and loads the good
// one's images into a real containerd the way install does.
func TestBundle(t *testing.T) {
	ctx := context.Background()
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	cache := build.DefaultCacheDir() // shared with the build tests, which compile the same kubelets
	arm64, _ := catalog.ParsePlatform("linux/arm64")
	amd64, _ := catalog.ParsePlatform("linux/amd64")
	sel, _ := catalog.ParseSelection("kubelet")
	opts := func(p catalog.Platform) build.Options {
		return build.Options{KubernetesVersion: "v1.37.2", Selection: sel, Platforms: []catalog.Platform{p},
			Compression: oci.Gzip, Debian: debian.Source{Mirror: mirror}, CacheDir: cache}
	}
	dir := t.TempDir()
	var sums []string
	for i := range 2 {
		_, sum, err := bundle.Make(ctx, opts(arm64), filepath.Join(dir, "node-arm64-"+string(rune('a'+i))+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Errorf("two bundles of the same inputs: sha256 %s and %s", sums[0], sums[1])
	}
	unpacked := filepath.Join(dir, "unpacked")
	m, err := bundle.Open(filepath.Join(dir, "node-arm64-a.tar.gz"), unpacked)
	if err != nil {
		t.Fatal(err)
	}
	if m.Platform != "linux/arm64" || m.Kubelet != "kubelet:v1.37.2-trixie" || m.KubeProxy != "kube-proxy:v1.37.2-trixie" || !strings.HasPrefix(m.Pause, "pause:") {
		t.Errorf("manifest %+v", m)
	}
	bi, err := buildinfo.ReadFile(filepath.Join(unpacked, bundle.BinaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if bi.Main.Path != ckubelet.Module || !strings.HasPrefix(bi.Main.Version, version.Version+".src-") && !strings.HasPrefix(bi.Main.Version, version.Version+"-src-") {
		t.Errorf("the bundle's ckubelet names %s %s, want %s at %s with its source's hash", bi.Main.Path, bi.Main.Version, ckubelet.Module, version.Version)
	}
	q, _ := arm64.Qemu()
	if out, err := exec.Command(q, filepath.Join(unpacked, bundle.BinaryFile), "install", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--bundle") {
		t.Errorf("the bundle's ckubelet under %s: %v\n%s", q, err, out)
	}
	for _, e := range []string{"containerd", "docker", "podman"} {
		if _, err := os.Stat(filepath.Join(unpacked, "systemd", e, "kubelet.service")); err != nil {
			t.Error(err)
		}
	}

	// An altered bundle for this host: install refuses it before anything reaches containerd.
	good := filepath.Join(dir, "node-amd64.tar.gz")
	if _, _, err := bundle.Make(ctx, opts(amd64), good); err != nil {
		t.Fatal(err)
	}
	d := containerdtest.Start(t)
	lo := launch.Options{Runtime: "containerd", Containerd: launch.ContainerdOptions{Address: d.Address(), Namespace: containerdtest.Namespace, Snapshotter: d.Snapshotter()}}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "truncated.tar.gz")
	if err := os.WriteFile(bad, data[:len(data)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Install(ctx, bad, "", lo); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("install of a truncated bundle: %v", err)
	}
	if out, _ := d.Ctr("images", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images loaded from a bad bundle:\n%s", out)
	}
	// The good one's images, as install loads them.
	c, err := launch.ConnectContainerd(ctx, lo.Containerd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	okDir := filepath.Join(dir, "amd64")
	if _, err := bundle.Open(good, okDir); err != nil {
		t.Fatal(err)
	}
	names, err := c.Import(ctx, filepath.Join(okDir, bundle.ImagesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"docker.io/library/kubelet:v1.37.2-trixie", "docker.io/library/kube-proxy:v1.37.2-trixie"} {
		if !slices.Contains(names, want) {
			t.Errorf("imported %v, want %s", names, want)
		}
	}
	if out, err := d.Run(t, "docker.io/library/kubelet:v1.37.2-trixie", "--version"); err != nil || !strings.Contains(out, "Kubernetes v1.37.2") {
		t.Errorf("kubelet from the bundle in containerd: %q, %v", out, err)
	}
}
