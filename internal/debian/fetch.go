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
	if plainListed && validSHA256(plain.sha256) {
		file, ok, err := c.cachedBlob(plain.sha256)
		if err != nil {
			return nil, err
		}
		if ok {
			text, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			return c.parsePackages(plainName, string(text))
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
			_, err := c.putBlob(plain.sha256, func(w io.Writer) error {
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
// <cache>/v1/sha256/<hex>/content/blob, and returns its path. The file is checked against the
// SHA256 and size of the index before it is cached; a cached copy is checked again before
// every use (internal/cache) and fetched anew if it is corrupt.
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
	file, ok, err := c.cachedBlob(sum)
	if err != nil || ok {
		return file, err
	}
	u := c.url(rel)
	err = c.get(ctx, u, name, func(body io.Reader) (err error) {
		file, err = c.putBlob(sum, func(w io.Writer) error {
			if err := copyVerified(w, body, sum, size); err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return file, nil
}

// Kinds of the Debian cache (internal/cache), under the client's cache directory.
const (
	// blobKind holds indexes and .debs by SHA256: v1/sha256/<hex>/content/blob.
	blobKind = "sha256"
	blobFile = "blob"
	// extractedKind holds unpacked packages by the SHA256 of their .deb: v1/extracted/<hex>/content/.
	extractedKind = "extracted"
)

// cachedBlob returns the path of the cached file with the given SHA256, if the cache holds it
// intact.
func (c *Client) cachedBlob(sum string) (string, bool, error) {
	dir, ok, err := c.cache.Get(blobKind, sum)
	if err != nil || !ok {
		return "", false, err
	}
	return filepath.Join(dir, blobFile), true, nil
}

// putBlob stores the file with the given SHA256 in the cache and returns its path. write fills
// it and must verify what it writes against sum; the file is cached only if write succeeds, so
// the cache only ever holds complete, verified files and a failure leaves nothing behind.
func (c *Client) putBlob(sum string, write func(io.Writer) error) (string, error) {
	dir, err := c.cache.Put(blobKind, sum, func(dir string) error {
		f, err := os.Create(filepath.Join(dir, blobFile))
		if err != nil {
			return fmt.Errorf("create cache entry: %w", err)
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		// Cached files are read-only, as a hint that they are shared.
		return os.Chmod(f.Name(), 0o444)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, blobFile), nil
}

// Extracted returns the directory holding the package's files, unpacked once (see Extract) and
// kept in the cache under the .deb's SHA256; the .deb is fetched if needed. The tree is checked
// against what was unpacked before every use (internal/cache) and unpacked anew if it is not
// intact. Never modify it.
func (c *Client) Extracted(ctx context.Context, p Package) (string, error) {
	if !validSHA256(p.SHA256) {
		return "", fmt.Errorf("extract %s: index gives no valid SHA256 (%q)", p, truncate(p.SHA256, 80))
	}
	dir, ok, err := c.cache.Get(extractedKind, p.SHA256)
	if err != nil || ok {
		return dir, err
	}
	deb, err := c.Fetch(ctx, p)
	if err != nil {
		return "", err
	}
	return c.cache.Put(extractedKind, p.SHA256, func(dir string) error {
		if _, err := Extract(deb, dir); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	})
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

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
