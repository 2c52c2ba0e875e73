// Package oci assembles reproducible OCI layers, images and multi-arch indexes with
// go-containerregistry. Same inputs give the same bytes: entries are sorted, owned by 0:0 with no
// user or group names, and stamped with one fixed time.
package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// Entry is one file, directory or symlink of a layer.
type Entry struct {
	Path   string      // absolute path in the image, e.g. "/usr/bin/kubelet"
	Mode   fs.FileMode // permissions plus fs.ModeDir or fs.ModeSymlink for those
	Source string      // host file holding a regular file's contents
	Data   []byte      // a regular file's contents when there is no Source
	Link   string      // a symlink's target
}

// File is a regular file entry copied from a host path.
func File(imagePath, source string, mode fs.FileMode) Entry {
	return Entry{Path: imagePath, Mode: mode, Source: source}
}

// EntriesFromDir lists a directory tree as entries rooted at "/". Modes are taken from the tree;
// anything but regular files, directories and symlinks is refused.
func EntriesFromDir(root string) ([]Entry, error) {
	var entries []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: "/" + filepath.ToSlash(rel), Mode: info.Mode() & (fs.ModePerm | fs.ModeSticky | fs.ModeSetuid | fs.ModeSetgid | fs.ModeDir | fs.ModeSymlink)}
		switch {
		case info.Mode().IsRegular():
			e.Source = p
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case info.IsDir():
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// Layers builds layers, keeping compressed blobs in a cache keyed on the uncompressed content, so
// an unchanged layer is never compressed twice.
type Layers struct {
	CacheDir    string
	Compression Compression
	Time        time.Time // mtime of every entry
}

// layerKind is the cache kind of compressed layers: v1/layers/<diffID hex>.<encoder id>/content/
// holds the blob and its digest.
const (
	layerKind  = "layers"
	blobFile   = "blob"
	digestFile = "digest"
)

// Layer returns the layer holding entries, plus the parent directories they need.
func (ls *Layers) Layer(entries []Entry) (v1.Layer, error) {
	entries, err := normalize(entries)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if err := ls.writeTar(h, entries); err != nil {
		return nil, err
	}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	encoder, err := ls.Compression.encoderID()
	if err != nil {
		return nil, err
	}
	c := cache.Cache{Dir: ls.CacheDir}
	key := diffID.Hex + "." + encoder
	dir, ok, err := c.Get(layerKind, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		dir, err = c.Put(layerKind, key, func(dir string) error { return ls.compress(entries, diffID, dir) })
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", diffID, err)
		}
	}
	return ls.open(dir, diffID)
}

// open returns the cached layer in dir. The cache has verified the blob, and its digest and
// diffID were checked when it was put, so nothing is decompressed or hashed again here:
// go-containerregistry's file layers would do both, for every layer of every build. Measured on
// a kubelet layer (92 MB, zstd, 2-core AMD EPYC): a warm Layer takes 110 ms this way, 330 ms
// with a file layer; most of the 110 is hashing the tar of the entries for the key.
func (ls *Layers) open(dir string, diffID v1.Hash) (v1.Layer, error) {
	blob := filepath.Join(dir, blobFile)
	fi, err := os.Stat(blob)
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(filepath.Join(dir, digestFile))
	if err != nil {
		return nil, err
	}
	digest, err := v1.NewHash(string(text))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return partial.CompressedToLayer(&cachedLayer{path: blob, digest: digest, diffID: diffID, size: fi.Size(), mediaType: ls.Compression.mediaType()})
}

// compress writes the compressed tar of entries into dir with its digest, and checks that it
// decompresses to diffID: what the cache keeps is what was hashed.
func (ls *Layers) compress(entries []Entry, diffID v1.Hash, dir string) error {
	blob := filepath.Join(dir, blobFile)
	f, err := os.Create(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	digest := sha256.New()
	out := io.MultiWriter(f, digest)
	w, err := ls.Compression.encoder().writer(out)
	if err != nil {
		return err
	}
	if err := ls.writeTar(w, entries); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	l, err := tarball.LayerFromFile(blob, tarball.WithMediaType(ls.Compression.mediaType()))
	if err != nil {
		return err
	}
	if got, err := l.DiffID(); err != nil || got != diffID {
		return fmt.Errorf("compressed blob decompresses to %s, want %s (%v)", got, diffID, err)
	}
	return os.WriteFile(filepath.Join(dir, digestFile), []byte("sha256:"+hex.EncodeToString(digest.Sum(nil))), 0o444)
}

// cachedLayer is a compressed blob of the cache with known digests (see Layers.open).
type cachedLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *cachedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *cachedLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *cachedLayer) Size() (int64, error)                { return l.size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

func (ls *Layers) writeTar(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := ls.writeEntry(tw, e); err != nil {
			return fmt.Errorf("layer entry %s: %w", e.Path, err)
		}
	}
	return tw.Close()
}

func (ls *Layers) writeEntry(tw *tar.Writer, e Entry) error {
	hdr := &tar.Header{
		Name:    strings.TrimPrefix(e.Path, "/"),
		Mode:    int64(e.Mode.Perm()),
		ModTime: ls.Time,
		// PAX without access/change times or names: only what every reader needs.
		Format: tar.FormatPAX,
	}
	for bit, mode := range map[fs.FileMode]int64{fs.ModeSticky: 0o1000, fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000} {
		if e.Mode&bit != 0 {
			hdr.Mode |= mode
		}
	}
	switch {
	case e.Mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		return tw.WriteHeader(hdr)
	case e.Mode&fs.ModeSymlink != 0:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Link
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	var body io.Reader = bytes.NewReader(e.Data)
	hdr.Size = int64(len(e.Data))
	if e.Source != "" {
		f, err := os.Open(e.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Size, body = fi.Size(), f
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(tw, body); err != nil {
		return err
	} else if n != hdr.Size {
		return fmt.Errorf("%s changed while being read", e.Source)
	}
	return nil
}

// normalize sorts entries, adds missing parent directories (0755) and rejects duplicates and
// paths that are not clean absolute paths.
func normalize(in []Entry) ([]Entry, error) {
	byPath := map[string]Entry{}
	for _, e := range in {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("layer entry %q: want a clean absolute path", e.Path)
		}
		if _, dup := byPath[e.Path]; dup {
			return nil, fmt.Errorf("layer entry %s given twice", e.Path)
		}
		byPath[e.Path] = e
	}
	for _, e := range in {
		for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = Entry{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	out := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
