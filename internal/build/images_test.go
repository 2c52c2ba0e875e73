package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/progress"
	"github.com/ckubelet/ckubelet/internal/rootfs"
	"github.com/ckubelet/ckubelet/internal/testenv"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(32, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestIndexes(t *testing.T) {
	amd64, arm64 := catalog.Supported[0], catalog.Supported[1]
	pause, kubelet := catalog.PauseImage("3.10.2"), catalog.KubeletImage("v1.37.2", "trixie")
	a, b, c := randomImage(t), randomImage(t), randomImage(t)
	sbom := func(name string) output.SBOM { return output.SBOM{FileName: name} }

	t.Run("grouped by name in first-seen order, platforms in build order", func(t *testing.T) {
		named, err := imageSet{
			{name: kubelet, platform: amd64, image: a, sbom: sbom("k-amd64")},
			{name: pause, platform: amd64, image: b, sbom: sbom("p-amd64")},
			{name: kubelet, platform: arm64, image: c, sbom: sbom("k-arm64")},
		}.indexes()
		if err != nil {
			t.Fatal(err)
		}
		if len(named) != 2 || named[0].Image != kubelet || named[1].Image != pause {
			t.Fatalf("indexes %+v", named)
		}
		im, err := named[0].Index.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		da, _ := a.Digest()
		dc, _ := c.Digest()
		if len(im.Manifests) != 2 || im.Manifests[0].Digest != da || im.Manifests[1].Digest != dc {
			t.Errorf("kubelet index %+v", im.Manifests)
		}
		if len(named[0].SBOMs) != 2 || named[0].SBOMs[1].FileName != "k-arm64" {
			t.Errorf("SBOMs %+v", named[0].SBOMs)
		}
	})

	t.Run("the same image twice appears once", func(t *testing.T) {
		// pause for two Kubernetes versions with the same pause source
		named, err := imageSet{
			{name: pause, platform: amd64, image: b, sbom: sbom("p")},
			{name: pause, platform: amd64, image: b, sbom: sbom("p")},
		}.indexes()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := named[0].Index.IndexManifest()
		if len(im.Manifests) != 1 || len(named[0].SBOMs) != 1 {
			t.Errorf("%d manifests, %d SBOMs; want 1 and 1", len(im.Manifests), len(named[0].SBOMs))
		}
	})

	t.Run("two different images of one name and platform are refused", func(t *testing.T) {
		_, err := imageSet{
			{name: pause, platform: amd64, image: a},
			{name: pause, platform: amd64, image: b},
		}.indexes()
		if err == nil || !strings.Contains(err.Error(), "pause:3.10.2 for linux/amd64 was built twice with different contents") {
			t.Fatalf("error %v", err)
		}
	})
}

// fakeCompiler "compiles" every package into a copy of one tiny Go program (so the SBOM can read
// its build info), tagged with what it stands for.
type fakeCompiler struct{ dir, tiny string }

func newFakeCompiler(t *testing.T) fakeCompiler {
	dir := t.TempDir()
	testenv.LookPath(t, "go")
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/tiny\n\ngo 1.24\n"), 0o644)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "tiny", ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return fakeCompiler{dir: dir, tiny: filepath.Join(dir, "tiny")}
}

func (f fakeCompiler) Build(_ context.Context, _ string, src *gobuild.Source, pkg string, t gobuild.Target) (gobuild.Binary, error) {
	name := gobuild.BinaryName(src, pkg)
	self, err := os.ReadFile(f.tiny)
	if err != nil {
		return gobuild.Binary{}, err
	}
	p := filepath.Join(f.dir, name+"-"+strings.ReplaceAll(t.Platform.String(), "/", "-"))
	return gobuild.Binary{Name: name, Path: p}, os.WriteFile(p, append(self, name+" "+t.Platform.String()...), 0o755)
}

// fakeUserlands gives every userland one file naming it.
type fakeUserlands struct{ layers *oci.Layers }

func (f fakeUserlands) userland(_ context.Context, p catalog.Platform, name string, _ rootfs.Spec, _ []string) (*Userland, error) {
	l, err := f.layers.Layer([]oci.Entry{{Path: "/etc/userland", Mode: 0o644, Data: []byte(name + " " + p.String())}})
	if err != nil {
		return nil, err
	}
	return &Userland{Layer: oci.Layer{Layer: l, CreatedBy: "userland " + name}, Manifest: &rootfs.Manifest{}}, nil
}

// TestImagesWithFakeStages runs the orchestrator's image steps for one platform with fake
// compiler, userland and pause stages: which images come out, their layers in order, their
// entrypoints, users and labels.
func TestImagesWithFakeStages(t *testing.T) {
	dir := t.TempDir()
	sel, err := catalog.ParseSelection("kubelet,kubeadm,kube-proxy,pause")
	if err != nil {
		t.Fatal(err)
	}
	layers := &oci.Layers{CacheDir: dir, Compression: oci.Gzip, Time: time.Unix(1700000000, 0).UTC()}
	b := &builder{
		opts:      Options{Selection: sel, CacheDir: dir, Compression: oci.Gzip, Debian: debian.Source{Suite: "trixie"}},
		compiler:  newFakeCompiler(t),
		userlands: fakeUserlands{layers},
		pause: func(_ context.Context, _, _ string, p catalog.Platform) (string, bool, error) {
			path := filepath.Join(dir, "pause-"+p.Arch)
			return path, false, os.WriteFile(path, []byte("pause"), 0o755)
		},
		progress: progress.Quiet{},
	}
	module := func(path, version string) *gobuild.Source {
		return &gobuild.Source{Module: &gobuild.Module{Path: path, Version: version, Sum: "h1:x", Time: "2026-11-01T00:00:00Z"}}
	}
	v := &versionBuild{builder: b, version: "v1.37.2", kubernetes: module("k8s.io/kubernetes", "v1.37.2"),
		criTools: module(gobuild.CRIToolsModule, "v1.37.0"), created: layers.Time, layers: layers, pauseTag: "3.10.2"}
	var set imageSet
	if err := v.buildPlatform(context.Background(), catalog.Supported[0], &set); err != nil {
		t.Fatal(err)
	}
	type image struct {
		ref, user string
		history   []string
		entry     []string
		labels    map[string]string
	}
	var got []image
	for _, pi := range set {
		cf, err := pi.image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		var h []string
		for _, e := range cf.History {
			h = append(h, strings.Fields(strings.TrimPrefix(e.CreatedBy, "ckubelet: "))[0])
		}
		got = append(got, image{pi.name.Ref(), cf.Config.User, h, cf.Config.Entrypoint, cf.Config.Labels})
	}
	want := []struct {
		ref     string
		history string
		entry0  string
		flavor  string
	}{
		{"kubelet:v1.37.2-trixie", "userland /usr/bin/kubelet", catalog.KubeletBinary, "kubelet"},
		{"kubelet:v1.37.2-kubeadm-trixie", "userland /usr/bin/kubelet crictl kubeadm", catalog.KubeletBinary, "kubeadm"},
		{"kube-proxy:v1.37.2-trixie", "userland kube-proxy", catalog.KubeProxyBinary, ""},
		{"pause:3.10.2", "pause", catalog.PauseBinary, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("images %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.ref != w.ref || strings.Join(g.history, " ") != w.history || g.entry[0] != w.entry0 || g.labels[catalog.FlavorLabel] != w.flavor {
			t.Errorf("image %d: %s layers %q entrypoint %q flavor %q; want %s layers %q entrypoint %s flavor %q",
				i, g.ref, g.history, g.entry, g.labels[catalog.FlavorLabel], w.ref, w.history, w.entry0, w.flavor)
		}
		version := g.labels[catalog.KubernetesVersionLabel]
		if (w.ref == "pause:3.10.2") != (version == "") {
			t.Errorf("%s: Kubernetes version label %q (pause has none: it is the same for every version)", g.ref, version)
		}
	}
	if got[3].user != catalog.PauseUser || got[3].labels["org.opencontainers.image.version"] != "3.10.2" {
		t.Errorf("pause: user %q labels %v", got[3].user, got[3].labels)
	}
	if !slices.Equal(got[0].entry, catalog.KubeletEntrypoint) {
		t.Errorf("kubelet entrypoint %q", got[0].entry)
	}
	// Flavors share their leading layers: a second flavor of a version pulls only its extras.
	l0, _ := set[0].image.Layers()
	l1, _ := set[1].image.Layers()
	for i := range 2 {
		a, _ := l0[i].Digest()
		b, _ := l1[i].Digest()
		if a != b {
			t.Errorf("layer %d differs between the kubelet and kubeadm flavors", i)
		}
	}
}
