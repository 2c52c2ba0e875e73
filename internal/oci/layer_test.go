package oci

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
)

var epoch = time.Date(2026, 10, 27, 12, 1, 4, 0, time.UTC)

func testEntries(t *testing.T) []Entry {
	src := filepath.Join(t.TempDir(), "kubelet")
	if err := os.WriteFile(src, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []Entry{
		{Path: "/var/run", Mode: fs.ModeSymlink | 0o777, Link: "/run"},
		File("/usr/bin/kubelet", src, 0o755),
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\n")},
	}
}

func layerDigest(t *testing.T, ls *Layers, entries []Entry) v1.Hash {
	t.Helper()
	l, err := ls.Layer(entries)
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLayerDeterminism(t *testing.T) {
	for _, c := range []Compression{Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			entries := testEntries(t)
			a := layerDigest(t, &Layers{CacheDir: t.TempDir(), Compression: c, Time: epoch}, entries)
			// Reversed input order, a cold cache and a different source mtime give the same bytes.
			rev := append([]Entry(nil), entries...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if err := os.Chtimes(entries[1].Source, time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
			b := layerDigest(t, &Layers{CacheDir: t.TempDir(), Compression: c, Time: epoch}, rev)
			if a != b {
				t.Fatalf("same entries gave %s and %s", a, b)
			}
			other := layerDigest(t, &Layers{CacheDir: t.TempDir(), Compression: c, Time: epoch.Add(time.Second)}, entries)
			if other == a {
				t.Fatalf("different mtime gave the same digest")
			}
		})
	}
}

func TestLayerContents(t *testing.T) {
	ls := &Layers{CacheDir: t.TempDir(), Compression: Gzip, Time: epoch}
	l, err := ls.Layer(testEntries(t))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid=%d gid=%d uname=%q gname=%q mtime=%v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
		switch h.Name {
		case "tmp/":
			if h.Mode != 0o1777 {
				t.Errorf("/tmp mode %o, want 1777", h.Mode)
			}
		case "usr/bin/kubelet":
			if h.Mode != 0o755 {
				t.Errorf("kubelet mode %o", h.Mode)
			}
		}
	}
	want := "etc/ etc/passwd tmp/ usr/ usr/bin/ usr/bin/kubelet var/ var/run"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("entries\n got %s\nwant %s", got, want)
	}
}

func TestLayerRejectsBadEntries(t *testing.T) {
	ls := &Layers{CacheDir: t.TempDir(), Compression: Gzip, Time: epoch}
	for _, tc := range []struct {
		name    string
		entries []Entry
		errHas  string
	}{
		{"relative", []Entry{{Path: "etc/x", Mode: 0o644}}, "clean absolute path"},
		{"dotdot", []Entry{{Path: "/etc/../x", Mode: 0o644}}, "clean absolute path"},
		{"root", []Entry{{Path: "/", Mode: fs.ModeDir}}, "clean absolute path"},
		{"duplicate", []Entry{{Path: "/x", Mode: 0o644}, {Path: "/x", Mode: 0o644}}, "given twice"},
		{"missing source", []Entry{File("/x", "/nonexistent/file", 0o644)}, "/nonexistent/file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ls.Layer(tc.entries); err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("got %v, want error containing %q", err, tc.errHas)
			}
		})
	}
}

// A damaged cached layer (its blob or its digest) is detected and compressed again, to the
// same bytes; the layer a warm cache gives has the digests of the blob.
func TestCorruptCachedLayerIsRebuilt(t *testing.T) {
	for _, file := range []string{blobFile, digestFile} {
		for _, c := range cachetest.Corruptions {
			t.Run(file+" "+c.Name, func(t *testing.T) {
				ls := &Layers{CacheDir: t.TempDir(), Compression: Gzip, Time: epoch}
				entries := testEntries(t)
				want := layerDigest(t, ls, entries)
				blobs, _ := filepath.Glob(filepath.Join(ls.CacheDir, cache.Layout, layerKind, "*", "content", blobFile))
				if len(blobs) != 1 {
					t.Fatalf("want one cached blob, have %v", blobs)
				}
				c.Corrupt(t, filepath.Join(filepath.Dir(blobs[0]), file))
				l, err := ls.Layer(entries)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := l.Digest(); got != want {
					t.Fatalf("after the %s was %s got %s, want %s", file, c.Name, got, want)
				}
				rc, err := l.Compressed()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				if sum, _, err := v1.SHA256(rc); err != nil || sum != want {
					t.Errorf("blob hashes to %s (%v), want %s", sum, err, want)
				}
				diffID, _ := l.DiffID()
				rc, err = l.Uncompressed()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				if sum, _, err := v1.SHA256(rc); err != nil || sum != diffID {
					t.Errorf("uncompressed layer hashes to %s (%v), want its diffID %s", sum, err, diffID)
				}
			})
		}
	}
}

// TestLayerSpecialModes keeps setuid, setgid and sticky bits: test images need a setuid program.
func TestLayerSpecialModes(t *testing.T) {
	ls := &Layers{CacheDir: t.TempDir(), Compression: Gzip, Time: epoch}
	l, err := ls.Layer([]Entry{
		{Path: "/usr/local/bin/nnp", Mode: fs.ModeSetuid | 0o755, Data: []byte("x")},
		{Path: "/usr/bin/wall", Mode: fs.ModeSetgid | 0o755, Data: []byte("y")},
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	modes := map[string]int64{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[h.Name] = h.Mode
	}
	if modes["usr/local/bin/nnp"] != 0o4755 || modes["usr/bin/wall"] != 0o2755 {
		t.Errorf("modes %v", modes)
	}
}
