package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Target
		errHas string
	}{
		{in: "oci:out/oci", want: Target{OCI, "out/oci"}},
		{in: "oci-archive:/tmp/k.tar", want: Target{OCIArchive, "/tmp/k.tar"}},
		{in: "docker-archive:k.tar", want: Target{DockerArchive, "k.tar"}},
		{in: "registry:localhost:5000/ckubelet", want: Target{Registry, "localhost:5000/ckubelet"}},
		{in: "registry:UPPER/case", errHas: "not a repository"},
		{in: "tarball:x", errHas: `unknown kind "tarball"`},
		{in: "out/oci", errHas: "want oci:DIR"},
		{in: "oci:", errHas: "want oci:DIR"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func randomIndex(t *testing.T, platforms int) v1.ImageIndex {
	t.Helper()
	idx := v1.ImageIndex(empty.Index)
	for i := 0; i < platforms; i++ {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img})
	}
	return idx
}

// entries lists a directory so that tests can see leftovers, hidden temporaries included.
func entries(t *testing.T, dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

var errHalfway = errors.New("interrupted half-way")

func TestReplaceDirAtomicity(t *testing.T) {
	parent := t.TempDir()
	dest := filepath.Join(parent, "oci")

	// A failure on the first build leaves nothing at all.
	err := replaceDir(dest, func(dir string) error {
		os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644)
		return errHalfway
	})
	if !errors.Is(err, errHalfway) {
		t.Fatalf("got %v", err)
	}
	if got := entries(t, parent); len(got) != 0 {
		t.Fatalf("failed build left %v", got)
	}

	write := func(content string) error {
		return replaceDir(dest, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "v"), []byte(content), 0o644)
		})
	}
	if err := write("one"); err != nil {
		t.Fatal(err)
	}
	// A failure later leaves the previous output untouched.
	err = replaceDir(dest, func(dir string) error {
		os.WriteFile(filepath.Join(dir, "v"), []byte("partial"), 0o644)
		return errHalfway
	})
	if !errors.Is(err, errHalfway) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "v")); string(b) != "one" {
		t.Fatalf("previous output changed to %q", b)
	}
	// A success replaces it whole, with no temporaries left.
	if err := write("two"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "v")); string(b) != "two" {
		t.Fatalf("output is %q", b)
	}
	if got := entries(t, parent); len(got) != 1 || got[0] != "oci" {
		t.Fatalf("left %v", got)
	}
}

func TestReplaceFileAtomicity(t *testing.T) {
	parent := t.TempDir()
	dest := filepath.Join(parent, "k.tar")
	if err := os.WriteFile(dest, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ReplaceFile(dest, func(f *os.File) error {
		f.WriteString("partial")
		return errHalfway
	})
	if !errors.Is(err, errHalfway) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "previous" {
		t.Fatalf("previous output changed to %q", b)
	}
	if got := entries(t, parent); len(got) != 1 {
		t.Fatalf("left %v", got)
	}
}

func TestWriteOCILayoutNamesImages(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "oci")
	img := catalog.KubeletImage("v1.37.2", "trixie")
	if err := Write(context.Background(), Target{OCI, dest}, []Named{{Image: img, Index: randomIndex(t, 2)}}); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(dest)
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
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations[RefNameAnnotation] != "kubelet:v1.37.2-trixie" {
		t.Fatalf("index.json manifests: %+v", im.Manifests)
	}
}

func TestDockerArchiveNeedsOnePlatform(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "k.tar")
	img := catalog.KubeletImage("v1.37.2", "trixie")
	err := Write(context.Background(), Target{DockerArchive, dest}, []Named{{Image: img, Index: randomIndex(t, 3)}})
	if err == nil || !strings.Contains(err.Error(), "pass one --platform") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("failed write left %s", dest)
	}
	if err := Write(context.Background(), Target{DockerArchive, dest}, []Named{{Image: img, Index: randomIndex(t, 1)}}); err != nil {
		t.Fatal(err)
	}
}

// brokenImage is an image whose layer cannot be read, as when a cached blob vanishes mid-write.
type brokenImage struct{ v1.Image }

func (b brokenImage) Layers() ([]v1.Layer, error) { return nil, errHalfway }

// TestFailedWriteKeepsSBOMsAndImages writes an output and its SBOMs, then fails a second write
// of each kind: the previous SBOMs and images stay together, nothing new is left beside them.
func TestFailedWriteKeepsSBOMsAndImages(t *testing.T) {
	img := catalog.KubeletImage("v1.37.2", "trixie")
	for _, kind := range []Kind{OCI, OCIArchive, DockerArchive} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			target := Target{kind, filepath.Join(dir, "out")}
			artifact, err := random.Image(16, 1)
			if err != nil {
				t.Fatal(err)
			}
			good := []Named{{Image: img, Index: randomIndex(t, 1), SBOMs: []SBOM{{FileName: "a.spdx.json", Data: []byte("old"), Artifact: artifact}}}}
			if err := Write(context.Background(), target, good); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)

			r, err := random.Image(64, 1)
			if err != nil {
				t.Fatal(err)
			}
			broken := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: brokenImage{r}})
			bad := []Named{{Image: img, Index: broken, SBOMs: []SBOM{{FileName: "a.spdx.json", Data: []byte("new"), Artifact: artifact}}}}
			if err := Write(context.Background(), target, bad); err == nil {
				t.Fatal("writing a broken image succeeded")
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("a failed write changed the outputs:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestCommitAllRollsBack puts two staged outputs in place where the second cannot go: the
// first is put back as it was.
func TestCommitAllRollsBack(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("old a"), 0o644)
	sa, err := stageFile(a, func(f *os.File) error { _, err := f.WriteString("new a"); return err })
	if err != nil {
		t.Fatal(err)
	}
	sb, err := stageFile(b, func(f *os.File) error { _, err := f.WriteString("new b"); return err })
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(sb.tmp) // the second commit fails
	if err := commitAll(sa, sb); err == nil {
		t.Fatal("commit succeeded")
	}
	if got, _ := os.ReadFile(a); string(got) != "old a" {
		t.Errorf("a = %q after the rollback", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("left behind: %q", names)
	}
}

// snapshot describes every file under dir with its content's length and first bytes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s:%d:%.8x ", rel, len(data), data)
		return nil
	})
	return b.String()
}

// TestDockerArchiveReproducible writes several images twice: the same bytes, each image readable
// by its tag, a layer they share stored once.
func TestDockerArchiveReproducible(t *testing.T) {
	shared, err := random.Layer(256, types.OCILayerZStd)
	if err != nil {
		t.Fatal(err)
	}
	var images []Named
	for _, repo := range []string{"kubelet", "kube-proxy", "pause", "x1", "x2", "x3"} {
		base, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, shared)
		if err != nil {
			t.Fatal(err)
		}
		idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
		images = append(images, Named{Image: catalog.Image{Repository: repo, Tag: "v1"}, Index: idx})
	}
	var archives [][]byte
	for range 2 {
		dest := filepath.Join(t.TempDir(), "images.tar")
		if err := Write(context.Background(), Target{DockerArchive, dest}, images); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)
		for _, n := range images {
			tag, _ := name.NewTag(n.Image.Ref())
			img, err := tarball.ImageFromPath(dest, &tag)
			if err != nil {
				t.Fatalf("%s: %v", n.Image.Ref(), err)
			}
			if _, err := img.Digest(); err != nil {
				t.Fatalf("%s: %v", n.Image.Ref(), err)
			}
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two writes of the same images differ")
	}
	d, _ := shared.Digest()
	if n := bytes.Count(archives[0], []byte(d.Hex+".tar.zst\x00")); n != 1 {
		t.Errorf("the shared layer is stored %d times", n)
	}
}
