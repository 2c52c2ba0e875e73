package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

var testManifest = Manifest{KubernetesVersion: "v1.37.2", Platform: "linux/arm64", Flavor: "kubelet",
	Kubelet: "docker.io/library/kubelet:v1.37.2-trixie", KubeProxy: "docker.io/library/kube-proxy:v1.37.2-trixie",
	Pause: "docker.io/library/pause:3.10.2", Compression: "zstd", Ckubelet: "v0.2.0-dev"}

func testFiles(t *testing.T) []File {
	src := filepath.Join(t.TempDir(), "images.tar")
	if err := os.WriteFile(src, bytes.Repeat([]byte("layer"), 100000), 0o600); err != nil {
		t.Fatal(err)
	}
	return []File{
		{Name: BinaryFile, Mode: 0o755, Data: []byte("\x7fELF ckubelet")},
		{Name: ImagesFile, Mode: 0o644, Source: src},
		{Name: "systemd/containerd/kubelet.service", Mode: 0o644, Data: []byte("[Unit]\n")},
	}
}

func write(t *testing.T, files []File) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "node.tar.gz")
	if err := Write(dest, testManifest, files); err != nil {
		t.Fatal(err)
	}
	return dest
}

func TestWriteOpen(t *testing.T) {
	files := testFiles(t)
	a := write(t, files)
	// Reproducible: another write of the same inputs, in another order, gives the same bytes.
	b := write(t, []File{files[2], files[0], files[1]})
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Errorf("two bundles of the same files differ (%d and %d bytes)", len(ab), len(bb))
	}
	dir := filepath.Join(t.TempDir(), "unpacked")
	m, err := Open(a, dir)
	if err != nil {
		t.Fatal(err)
	}
	if *m != testManifest {
		t.Errorf("manifest %+v, want %+v", *m, testManifest)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		want := f.Data
		if f.Source != "" {
			want, _ = os.ReadFile(f.Source)
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d", f.Name, len(got), err, len(want))
		}
		if fi, _ := os.Stat(filepath.Join(dir, f.Name)); fi == nil || fi.Mode().Perm() != f.Mode {
			t.Errorf("%s: mode %v, want %v", f.Name, fi.Mode(), f.Mode)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dir, SumsFile))
	if n := strings.Count(string(sums), "\n"); n != len(files)+1 {
		t.Errorf("%s lists %d files, want %d:\n%s", SumsFile, n, len(files)+1, sums)
	}
}

// TestOpenRefuses damages a bundle the ways a transfer or a tamperer would: each is refused
// and leaves nothing unpacked.
func TestOpenRefuses(t *testing.T) {
	good, err := os.ReadFile(write(t, testFiles(t)))
	if err != nil {
		t.Fatal(err)
	}
	// rewrite re-compresses the tar with one file's content changed, keeping SHA256SUMS.
	rewrite := func(from, to string) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		raw.ReadFrom(zr)
		tampered := bytes.Replace(raw.Bytes(), []byte(from), []byte(to), 1)
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(tampered)
		zw.Close()
		return out.Bytes()
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		wants string
	}{
		{"truncated", good[:len(good)/2], "truncated"},
		{"last bytes cut", good[:len(good)-4], "truncated"},
		{"altered binary", rewrite("\x7fELF ckubelet", "\x7fELF ckubelex"), "ckubelet has SHA-256"},
		{"altered unit", rewrite("[Unit]", "[Unix]"), "altered"},
		{"not gzip", []byte("hello"), "not a gzip file"},
		{"empty", nil, "not a gzip file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.tar.gz")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "unpacked")
			if _, err := Open(path, dir); err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("Open: %v, want an error saying %q", err, tc.wants)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("left %d entries in %s", len(entries), dir)
			}
		})
	}
}

func TestWriteRefusesBadNames(t *testing.T) {
	for _, name := range []string{"../x", "/abs", SumsFile, BinaryFile} {
		files := append(testFiles(t), File{Name: name, Mode: 0o644, Data: []byte("x")})
		if err := Write(filepath.Join(t.TempDir(), "b.tar.gz"), testManifest, files); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}
