package debian

import (
	"bufio"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Index fetches the suite's InRelease, verifies its signature against the keyring, then
// fetches the Packages file of each component for arch (xz, gz or plain, whichever
// InRelease lists), checks it against the SHA256 and size listed in InRelease, and parses
// it. InRelease is fetched once per Client; verified Packages files are kept in the cache.
func (c *Client) Index(ctx context.Context, arch string) (*Index, error) {
	rel, err := c.getRelease(ctx)
	if err != nil {
		return nil, err
	}
	if err := rel.checkArch(arch); err != nil {
		return nil, err
	}
	var pkgs []*Package
	for _, comp := range c.src.Components {
		if err := rel.checkComponent(comp); err != nil {
			return nil, err
		}
		p, err := c.packages(ctx, rel, comp, arch)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p...)
	}
	return newIndex(c.src.Suite, arch, pkgs), nil
}

// packages returns the parsed Packages file of one component.
//
// InRelease lists the uncompressed Packages file too, although mirrors only carry the
// compressed ones. After decompressing, the text is checked against that entry as well
// and cached under its own SHA256, because decompressing (1.2 s for trixie's 56 MB
// Packages.xz) takes longer than parsing; later builds read the cached copy.
func (c *Client) packages(ctx context.Context, rel *release, comp, arch string) ([]*Package, error) {
	plainName := comp + "/binary-" + arch + "/Packages"
	plain, plainListed := rel.files[plainName]
	if plainListed {
		if text, err := readVerified(c.blobPath(plain.sha256), plain); err == nil {
			return c.parsePackages(plainName, text)
		}
	}
	names := rel.packagesFiles(comp, arch)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no Packages file for %s/binary-%s", rel.url, comp, arch)
	}
	var err error
	for _, name := range names {
		var file string
		sum := rel.files[name]
		file, err = c.fetchBlob(ctx, "dists/"+c.src.Suite+"/"+name, c.src.Suite+"/"+name, sum.sha256, sum.size)
		if errors.Is(err, errNotFound) {
			continue // try the next compression
		}
		if err != nil {
			return nil, err
		}
		text, err := decompressFile(file, name)
		if err != nil {
			return nil, fmt.Errorf("%s of %s (cached as %s): %w", name, c.src.Suite, file, err)
		}
		if plainListed && name != plainName {
			err := c.putBlob(plain.sha256, func(w io.Writer) error {
				return copyVerified(w, strings.NewReader(text), plain.sha256, plain.size)
			})
			if err != nil {
				return nil, fmt.Errorf("%s of %s, decompressed: %w", name, c.src.Suite, err)
			}
		}
		return c.parsePackages(name, text)
	}
	return nil, err
}

func (c *Client) parsePackages(name, text string) ([]*Package, error) {
	pkgs, err := parsePackages(text)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", name, c.src.Suite, err)
	}
	return pkgs, nil
}

// decompressFile returns the decompressed content of file, compressed as name says.
func decompressFile(file, name string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, err := decompress(name, f)
	if err != nil {
		return "", err
	}
	defer r.Close()
	// A strings.Builder hands over its buffer, so the text is not copied again; stanzas
	// and fields are substrings of it.
	var text strings.Builder
	if _, err := io.Copy(&text, r); err != nil {
		return "", err
	}
	return text.String(), nil
}

// decompress returns a reader of the content of r, compressed as name's extension says.
func decompress(name string, r io.Reader) (io.ReadCloser, error) {
	// The xz decoder reads its input in small pieces; unbuffered, decoding Debian's
	// Packages.xz takes six times as long.
	r = bufio.NewReaderSize(r, 256<<10)
	switch path.Ext(name) {
	case ".gz":
		return gzip.NewReader(r)
	case ".xz":
		x, err := xz.NewReader(r)
		return io.NopCloser(x), err
	case ".zst":
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	case ".bz2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case "", ".tar":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unsupported compression %q", path.Ext(name))
}

// Fetch downloads the package's .deb into the content-addressed cache,
// <cache>/sha256/<hex>, and returns its path. The file is checked against the SHA256 and
// size of the index; a cached copy is checked again before use and fetched anew if it is
// corrupt.
func (c *Client) Fetch(ctx context.Context, p Package) (string, error) {
	f := p.Filename
	if f == "" || path.IsAbs(f) || path.Clean(f) != f || f == ".." || strings.HasPrefix(f, "../") {
		return "", fmt.Errorf("fetch %s: bad Filename %q in the index", p, f)
	}
	file, err := c.fetchBlob(ctx, f, path.Base(f), p.SHA256, p.Size)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", p, err)
	}
	return file, nil
}

// fetchBlob returns the cached path of the file with the given SHA256 and size, fetching it
// from the mirror path rel if the cache lacks it or holds a corrupt copy, and reporting
// progress under name.
func (c *Client) fetchBlob(ctx context.Context, rel, name, sum string, size int64) (string, error) {
	if !validSHA256(sum) {
		return "", fmt.Errorf("%s: index gives no valid SHA256 (%q)", rel, truncate(sum, 80))
	}
	if size <= 0 {
		return "", fmt.Errorf("%s: index gives no valid Size", rel)
	}
	file := c.blobPath(sum)
	switch err := checkFile(file, sum, size); {
	case err == nil:
		return file, nil
	case errors.Is(err, fs.ErrNotExist):
	default:
		// Corrupt: bit rot, a full disk, tampering. Fetch it again.
		if err := os.Remove(file); err != nil {
			return "", fmt.Errorf("remove corrupt cache entry: %w", err)
		}
	}
	u := c.url(rel)
	err := c.get(ctx, u, name, func(body io.Reader) error {
		return c.putBlob(sum, func(w io.Writer) error {
			if err := copyVerified(w, body, sum, size); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
			return nil
		})
	})
	if err != nil {
		return "", err
	}
	return file, nil
}

// blobPath returns where the cache keeps the file with the given SHA256.
func (c *Client) blobPath(sum string) string {
	return filepath.Join(c.cacheDir, "sha256", sum)
}

// putBlob stores the file with the given SHA256 in the cache. write fills a temporary
// file and must verify what it writes; the file is renamed into place only if write
// succeeds, so sha256/ only ever holds complete, verified files and a failure leaves
// nothing behind.
func (c *Client) putBlob(sum string, write func(io.Writer) error) error {
	tmpDir := filepath.Join(c.cacheDir, "tmp")
	for _, d := range []string{filepath.Dir(c.blobPath(sum)), tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cache: %w", err)
		}
	}
	tmp, err := os.CreateTemp(tmpDir, sum+"-*")
	if err != nil {
		return fmt.Errorf("create cache entry: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	err = write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Cached files are read-only, as a hint that they are shared.
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.blobPath(sum))
}

// copyVerified copies r to w, failing unless r holds exactly size bytes with the given
// SHA256. It never reads more than size+1 bytes, so a hostile server cannot fill the disk.
func copyVerified(w io.Writer, r io.Reader, sum string, size int64) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("size mismatch: got %s bytes, the index says %d; the mirror's copy is truncated or altered", sizeString(n, size), size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("SHA256 mismatch: got %s, the index says %s; the mirror's copy is corrupt or altered", got, sum)
	}
	return nil
}

func sizeString(n, limit int64) string {
	if n > limit {
		return fmt.Sprintf("more than %d", limit)
	}
	return fmt.Sprint(n)
}

// readVerified returns the content of a cached file if it matches sum.
func readVerified(file string, sum fileSum) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var text strings.Builder
	text.Grow(int(min(sum.size, 1<<30))) // the size is signed, but stay sane
	if err := copyVerified(&text, f, sum.sha256, sum.size); err != nil {
		return "", err
	}
	return text.String(), nil
}

// checkFile verifies a cached file against its SHA256 and size.
func checkFile(file, sum string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return copyVerified(io.Discard, f, sum, size)
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
