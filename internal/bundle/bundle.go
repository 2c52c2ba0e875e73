// Package bundle writes and opens node bundles: one file that carries everything a node of one
// platform needs to start kubelet without any registry (the kubelet flavor, kube-proxy and pause
// images, ckubelet itself for the node, the systemd units and the SBOMs), for air-gapped sites.
//
// A bundle is a gzip-compressed tar, so `tar xzf` unpacks it anywhere, written reproducibly
// (sorted entries, owner 0:0, one fixed time): the same inputs give the same bytes. Its
// SHA256SUMS lists every other file; Open refuses a bundle that is truncated, altered, or has a
// file the list does not name, before anything is imported.
package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/ckubelet/ckubelet/internal/output"
)

// Names of the files in a bundle.
const (
	ManifestFile = "bundle.json"
	SumsFile     = "SHA256SUMS"
	ImagesFile   = "images.tar" // docker-archive: ctr images import, docker load, podman load
	BinaryFile   = "ckubelet"
)

// Manifest says what a bundle holds.
type Manifest struct {
	KubernetesVersion string `json:"kubernetesVersion"`
	Platform          string `json:"platform"`
	Flavor            string `json:"flavor"`
	// Images are the references of the images in ImagesFile, as engines name them once loaded.
	Kubelet   string `json:"kubelet"`
	KubeProxy string `json:"kubeProxy"`
	Pause     string `json:"pause"`
	// Compression is the images' layer compression; engines older than zstd support need gzip.
	Compression string `json:"compression"`
	Ckubelet    string `json:"ckubelet"` // the version of the ckubelet binary inside
}

// File is one file of a bundle, from a host file or from memory.
type File struct {
	Name   string // slash-separated path in the bundle
	Mode   fs.FileMode
	Source string // host file
	Data   []byte // contents, when Source is empty
}

// modTime stamps every entry: a bundle's bytes depend on its contents alone.
var modTime = time.Unix(0, 0).UTC()

// Write writes the bundle of m and files to dest, atomically: beside it, then renamed into place.
func Write(dest string, m Manifest, files []File) error {
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	files = append(slices.Clone(files), File{Name: ManifestFile, Mode: 0o644, Data: append(manifest, '\n')})
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	var sums bytes.Buffer
	for i, f := range files {
		if !fs.ValidPath(f.Name) || f.Name == SumsFile || i > 0 && files[i-1].Name == f.Name {
			return fmt.Errorf("bundle: file name %q is invalid or given twice", f.Name)
		}
		sum, err := f.sha256()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, f.Name)
	}
	// SHA256SUMS first, so that Open knows every other file's hash when it meets the file.
	files = append([]File{{Name: SumsFile, Mode: 0o644, Data: sums.Bytes()}}, files...)
	return output.ReplaceFile(dest, func(out *os.File) error {
		zw, err := gzip.NewWriterLevel(out, gzip.BestCompression)
		if err != nil {
			return err
		}
		tw := tar.NewWriter(zw)
		for _, f := range files {
			if err := f.write(tw); err != nil {
				return fmt.Errorf("bundle: %s: %w", f.Name, err)
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
}

func (f File) open() (io.ReadCloser, int64, error) {
	if f.Source == "" {
		return io.NopCloser(bytes.NewReader(f.Data)), int64(len(f.Data)), nil
	}
	r, err := os.Open(f.Source)
	if err != nil {
		return nil, 0, err
	}
	fi, err := r.Stat()
	if err != nil {
		r.Close()
		return nil, 0, err
	}
	return r, fi.Size(), nil
}

func (f File) sha256() (string, error) {
	r, _, err := f.open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (f File) write(tw *tar.Writer) error {
	r, size, err := f.open()
	if err != nil {
		return err
	}
	defer r.Close()
	hdr := &tar.Header{Name: f.Name, Mode: int64(f.Mode.Perm()), Size: size, ModTime: modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if n, err := io.Copy(tw, r); err != nil {
		return err
	} else if n != size {
		return fmt.Errorf("changed while being read")
	}
	return nil
}

// Open checks the bundle at path and unpacks it into dir, which must be empty or not exist: the
// first entry must be SHA256SUMS, every other one a regular file it lists with the hash it
// lists, none missing, the gzip stream whole. On any error dir is left empty and the error says
// the bundle cannot be used.
func Open(path, dir string) (_ *Manifest, err error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("bundle %s: %s: get the bundle again (compare its SHA-256 with the one printed when it was made)", path, fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return nil, fmt.Errorf("bundle: %s is not empty", dir)
	}
	defer func() {
		if err != nil {
			emptyDir(dir)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fail("not a gzip file: %v", err)
	}
	tr := tar.NewReader(zr)
	var want map[string]string
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fail("%v (truncated?)", err)
		}
		if hdr.Typeflag != tar.TypeReg || !fs.ValidPath(hdr.Name) || seen[hdr.Name] {
			return nil, fail("unexpected entry %q", hdr.Name)
		}
		seen[hdr.Name] = true
		if want == nil {
			if hdr.Name != SumsFile {
				return nil, fail("starts with %s, not %s", hdr.Name, SumsFile)
			}
			data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, fail("%s: %v", SumsFile, err)
			}
			if want, err = parseSums(data); err != nil {
				return nil, fail("%v", err)
			}
			if err := os.WriteFile(filepath.Join(dir, SumsFile), data, 0o644); err != nil {
				return nil, err
			}
			continue
		}
		sum, ok := want[hdr.Name]
		if !ok {
			return nil, fail("%s is not in %s", hdr.Name, SumsFile)
		}
		got, err := extract(tr, filepath.Join(dir, filepath.FromSlash(hdr.Name)), fs.FileMode(hdr.Mode).Perm())
		if err != nil {
			return nil, fail("%s: %v (truncated?)", hdr.Name, err)
		}
		if got != sum {
			return nil, fail("%s has SHA-256 %s, %s says %s: it was altered", hdr.Name, got, SumsFile, sum)
		}
	}
	// The gzip trailer's length and CRC are checked once the stream is read to its end.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fail("%v (truncated?)", err)
	}
	if want == nil {
		return nil, fail("empty")
	}
	for name := range want {
		if !seen[name] {
			return nil, fail("%s lists %s, which is missing", SumsFile, name)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fail("no %s", ManifestFile)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fail("%s: %v", ManifestFile, err)
	}
	return &m, nil
}

// parseSums reads sha256sum's output format.
func parseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" || !fs.ValidPath(name) || sums[name] != "" {
			return nil, fmt.Errorf("%s: malformed line %q", SumsFile, line)
		}
		sums[name] = sum
	}
	return sums, nil
}

// extract writes r to path and returns its SHA-256.
func extract(r io.Reader, path string, mode fs.FileMode) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), err
}

// emptyDir empties dir.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
