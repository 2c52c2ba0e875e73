package sbom

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	testSBOM    = []byte(`{"spdxVersion":"SPDX-2.3"}` + "\n")
	testSubject = v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Size:      1234,
		Digest:    testDigest,
		// As found in an index: neither may reach the artifact's subject.
		Platform:    &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"},
		Annotations: map[string]string{"a": "b"},
	}
)

// goldenArtifactDigest pins the manifest bytes: a change here changes every published referrer.
const goldenArtifactDigest = "sha256:45a343a7f26ed31a6f7fbc5d2091cfd35f235d70a225a622b93eae3b378693f8"

func TestArtifact(t *testing.T) {
	img, err := Artifact(testSBOM, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	sbomDigest, _, _ := v1.SHA256(strings.NewReader(string(testSBOM)))
	emptyDigest, _, _ := v1.SHA256(strings.NewReader("{}"))
	for _, c := range []struct{ field, got, want string }{
		{"mediaType", string(m.MediaType), string(types.OCIManifestSchema1)},
		{"artifactType", m.ArtifactType, MediaType},
		{"config.mediaType", string(m.Config.MediaType), "application/vnd.oci.empty.v1+json"},
		{"config.digest", m.Config.Digest.String(), emptyDigest.String()},
		{"subject.digest", m.Subject.Digest.String(), testDigest.String()},
		{"subject.mediaType", string(m.Subject.MediaType), string(types.OCIManifestSchema1)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if m.Config.Size != 2 || m.Subject.Size != 1234 {
		t.Errorf("config size %d, subject size %d; want 2, 1234", m.Config.Size, m.Subject.Size)
	}
	if m.Subject.Platform != nil || m.Subject.Annotations != nil {
		t.Errorf("subject carries index fields: %+v", m.Subject)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != MediaType || l.Digest != sbomDigest || l.Size != int64(len(testSBOM)) ||
		l.Annotations["org.opencontainers.image.title"] != FileName {
		t.Errorf("layer %+v, want %s %s size %d titled %s", l, MediaType, sbomDigest, len(testSBOM), FileName)
	}
	if raw, _ := img.RawConfigFile(); string(raw) != "{}" {
		t.Errorf("config blob %q, want {}", raw)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("MediaType() %s", mt)
	}

	// The manifest bytes are what the digest covers: check they say artifactType and subject
	// literally, not only through go-containerregistry's parser.
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	if generic["artifactType"] != MediaType || generic["subject"] == nil {
		t.Errorf("raw manifest lacks artifactType or subject: %s", raw)
	}

	d1, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	img2, err := Artifact(testSBOM, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("digest differs between calls: %s, %s", d1, d2)
	}
	if d1.String() != goldenArtifactDigest {
		t.Errorf("digest %s, want %s (manifest %s)", d1, goldenArtifactDigest, raw)
	}
}

// TestArtifactLayout writes the artifact where real outputs go and reads it back: every blob the
// manifest names must be served by the image.
func TestArtifactLayout(t *testing.T) {
	img, err := Artifact(testSBOM, testSubject)
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(t.TempDir(), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	back, err := p.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Digest(); got != want {
		t.Errorf("read back %s, want %s", got, want)
	}
	layers, err := back.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(testSBOM) {
		t.Errorf("layer content %q, want %q", b, testSBOM)
	}
	if cfg, _ := back.RawConfigFile(); string(cfg) != "{}" {
		t.Errorf("config blob %q, want {}", cfg)
	}
}

func TestArtifactErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		sbom    []byte
		subject v1.Descriptor
	}{
		{"empty SBOM", nil, testSubject},
		{"no subject digest", testSBOM, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 1}},
		{"no subject media type", testSBOM, v1.Descriptor{Size: 1, Digest: testDigest}},
		{"no subject size", testSBOM, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: testDigest}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Artifact(c.sbom, c.subject); err == nil {
				t.Error("no error")
			}
		})
	}
}
