package report

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platformImage describes one platform image of a test layout. Layers are named by their content:
// equal names give equal layers, as flavors of one version share their base layers.
type platformImage struct {
	platform string // "linux/arm/v7"
	labels   map[string]string
	layers   []string
}

// entry is one named index in index.json.
type entry struct {
	ref    string
	images []platformImage
}

func kubeletLabels(version, flavor string) map[string]string {
	return map[string]string{versionLabel: version, flavorLabel: flavor, titleLabel: "kubelet"}
}

func titleLabels(version, title string) map[string]string {
	return map[string]string{versionLabel: version, titleLabel: title}
}

// layerContent makes a layer's uncompressed bytes: its name repeated to 3000 bytes, so that the
// extracted size is known without decompressing anything.
func layerContent(name string) []byte {
	return bytes.Repeat([]byte(name), 3000/len(name)+1)[:3000]
}

func buildImage(t *testing.T, pi platformImage) (v1.Image, *v1.Platform) {
	t.Helper()
	plat, err := v1.ParsePlatform(pi.platform)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, name := range pi.layers {
		data := layerContent(name)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config.Labels = pi.labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img, plat
}

// writeLayout writes entries as ckubelet does (one index per name), each platform image followed by
// an SBOM artifact referring to it: one listed with its artifactType, as go-containerregistry
// writes it, and one without, as other tools may.
func writeLayout(t *testing.T, entries []entry) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		var subjects []v1.Descriptor
		for _, pi := range e.images {
			img, plat := buildImage(t, pi)
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			subjects = append(subjects, v1.Descriptor{Digest: d})
		}
		if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnot: e.ref})); err != nil {
			t.Fatal(err)
		}
		for i, s := range subjects {
			appendArtifact(t, p, s, i%2 == 0)
		}
	}
	return dir
}

func writeBlob(t *testing.T, p layout.Path, data []byte) v1.Descriptor {
	t.Helper()
	h, n, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: h, Size: n}
}

func appendArtifact(t *testing.T, p layout.Path, subject v1.Descriptor, typed bool) {
	t.Helper()
	config := writeBlob(t, p, []byte("{}"))
	config.MediaType = types.OCIEmptyJSON
	layer := writeBlob(t, p, []byte(`{"spdxVersion":"SPDX-2.3","subject":"`+subject.Digest.String()+`"}`))
	layer.MediaType = "application/spdx+json"
	raw, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: "application/spdx+json",
		Config: config, Layers: []v1.Descriptor{layer},
		Subject: &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: subject.Digest, Size: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := writeBlob(t, p, raw)
	d.MediaType = types.OCIManifestSchema1
	if typed {
		d.ArtifactType = "application/spdx+json"
	}
	if err := p.AppendDescriptor(d); err != nil {
		t.Fatal(err)
	}
}

// blobSize stats a blob of the layout: the expected compressed size is counted from the files a
// pull would transfer, independently of the go-containerregistry calls Measure makes.
func blobSize(t *testing.T, dir string, h v1.Hash) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func compressedOnDisk(t *testing.T, dir string, manifest v1.Hash) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "blobs", manifest.Algorithm, manifest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	n := int64(len(raw)) + blobSize(t, dir, m.Config.Digest)
	for _, l := range m.Layers {
		n += blobSize(t, dir, l.Digest)
	}
	return n
}

func TestMeasure(t *testing.T) {
	const v9, v10 = "v1.9.0", "v1.10.0" // v1.9 sorts first by semver, last as text
	base := []string{"debian", "kubelet"}
	kubelet := func(v string) entry {
		return entry{"kubelet:" + v + "-trixie", []platformImage{
			{"linux/amd64", kubeletLabels(v, "kubelet"), base},
			{"linux/arm/v7", kubeletLabels(v, "kubelet"), base},
		}}
	}
	flannel := entry{"kubelet:" + v10 + "-flannel-trixie", []platformImage{
		{"linux/amd64", kubeletLabels(v10, "flannel"), append(slices.Clone(base), "flannel-plugins")},
	}}
	proxy := entry{"kube-proxy:" + v10 + "-trixie", []platformImage{
		{"linux/amd64", titleLabels(v10, "kube-proxy"), []string{"debian", "kube-proxy"}},
		{"linux/arm/v7", titleLabels(v10, "kube-proxy"), []string{"debian", "kube-proxy"}},
	}}
	pause := entry{"pause:3.10.2", []platformImage{{"linux/amd64", titleLabels(v10, "pause"), []string{"pause"}}}}
	// layerBytes is what each test image unpacks to.
	layerBytes := func(names ...string) int64 { return int64(3000 * len(names)) }

	type want struct {
		version, image string
		extracted      map[string]int64 // by platform
	}
	tests := []struct {
		name    string
		entries []entry
		want    []want
		wantErr string
	}{
		{
			name:    "flavors, kube-proxy and pause of two versions, SBOMs skipped",
			entries: []entry{pause, proxy, flannel, kubelet(v10), kubelet(v9)},
			want: []want{
				{v9, "kubelet", map[string]int64{"linux/amd64": layerBytes(base...), "linux/arm/v7": layerBytes(base...)}},
				{v10, "kubelet", map[string]int64{"linux/amd64": layerBytes(base...), "linux/arm/v7": layerBytes(base...)}},
				{v10, "flannel", map[string]int64{"linux/amd64": layerBytes(base...) + 3000}},
				{v10, "kube-proxy", map[string]int64{"linux/amd64": 6000, "linux/arm/v7": 6000}},
				{v10, "pause", map[string]int64{"linux/amd64": 3000}},
			},
		},
		{
			name:    "one image under two names is measured once",
			entries: []entry{kubelet(v10), {"kubelet:latest", kubelet(v10).images}},
			want:    []want{{v10, "kubelet", map[string]int64{"linux/amd64": 6000, "linux/arm/v7": 6000}}},
		},
		{
			name: "two different images claiming one version, flavor and platform",
			entries: []entry{kubelet(v10), {"kubelet:" + v10 + "-bookworm", []platformImage{
				{"linux/amd64", kubeletLabels(v10, "kubelet"), []string{"bookworm", "kubelet"}},
			}}},
			wantErr: "is both kubelet:v1.10.0-trixie",
		},
		{
			name:    "an image without ckubelet labels",
			entries: []entry{{"busybox:latest", []platformImage{{"linux/amd64", map[string]string{}, []string{"busybox"}}}}},
			wantErr: "not a ckubelet image",
		},
		{
			name:    "an empty layout",
			entries: nil,
			want:    []want{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeLayout(t, tt.entries)
			rows, err := Measure(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Measure: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(tt.want))
			}
			for i, w := range tt.want {
				r := rows[i]
				if r.Version != w.version || r.Image != w.image {
					t.Errorf("row %d is %s %s, want %s %s", i, r.Version, r.Image, w.version, w.image)
					continue
				}
				if len(r.Sizes) != len(w.extracted) {
					t.Errorf("%s %s: platforms %v, want %v", r.Version, r.Image, slices.Sorted(maps.Keys(r.Sizes)), w.extracted)
				}
				for p, ext := range w.extracted {
					s, ok := r.Sizes[p]
					if !ok {
						t.Errorf("%s %s: no %s", r.Version, r.Image, p)
						continue
					}
					if s.Platform != p || s.Extracted != ext {
						t.Errorf("%s %s %s: platform %q, extracted %d, want %d", r.Version, r.Image, p, s.Platform, s.Extracted, ext)
					}
					if want := compressedOnDisk(t, dir, s.Digest); s.Compressed != want {
						t.Errorf("%s %s %s: compressed %d, want %d (the blobs on disk)", r.Version, r.Image, p, s.Compressed, want)
					}
				}
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	// Each version sorts strictly before the next.
	order := []string{"v1.9.0", "v1.10.0-alpha.1", "v1.10.0-alpha.2", "v1.10.0-beta.0", "v1.10.0", "v1.10.1", "v2.0.0", "latest", "x"}
	for i := range order {
		for j := range order {
			got := compareVersions(order[i], order[j])
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

// TestMeasureSharedPause checks that pause, labelled with its own version only (one image for
// every Kubernetes release with the same pause), is listed under every version measured, or
// under its own when the layout holds nothing else.
func TestMeasureSharedPause(t *testing.T) {
	pause := entry{ref: "pause:3.10.2", images: []platformImage{{platform: "linux/amd64",
		labels: map[string]string{titleLabel: "pause", ociVersion: "3.10.2"}, layers: []string{"pause"}}}}
	pause39 := entry{ref: "pause:3.9", images: []platformImage{{platform: "linux/amd64",
		labels: map[string]string{titleLabel: "pause", ociVersion: "3.9"}, layers: []string{"pause 3.9"}}}}
	kubelet := func(v string) entry {
		return entry{ref: "kubelet:" + v, images: []platformImage{{platform: "linux/amd64", labels: kubeletLabels(v, "kubelet"), layers: []string{"userland", "kubelet " + v}}}}
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		want    []string // version/image of every row
	}{
		{"with two versions", []entry{kubelet("v1.36.1"), pause, kubelet("v1.37.2")}, []string{"v1.36.1/kubelet", "v1.36.1/pause", "v1.37.2/kubelet", "v1.37.2/pause"}},
		{"alone", []entry{pause}, []string{"3.10.2/pause"}},
		{"two pause versions", []entry{kubelet("v1.26.0"), pause, pause39}, []string{"v1.26.0/kubelet", "v1.26.0/pause:3.10.2", "v1.26.0/pause:3.9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := Measure(writeLayout(t, tc.entries))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Version+"/"+r.Image)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
}
