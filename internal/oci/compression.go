package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Compression is how layer blobs are compressed: a format and its level.
type Compression struct {
	Format string // "zstd" or "gzip"
	Level  int    // 0 is the format's default
}

var (
	// Zstd is the default: the smallest pull (containerd ≥ 1.5, CRI-O, docker ≥ 23, podman ≥ 3).
	Zstd = Compression{Format: "zstd"}
	// Gzip is for older engines.
	Gzip = Compression{Format: "gzip"}
)

// levels are each format's default and highest level. zstd stops at 19: levels 20 to 22 use
// windows of 32 to 128 MiB, which a node must hold in memory to decompress the layer; up to
// 19 the window is at most 8 MiB, so a device with 512 MiB can pull.
var levels = map[string]struct{ def, max int }{
	"zstd": {19, 19},
	"gzip": {9, 9},
}

// ParseCompression validates --compression and --compression-level (0: the format's default).
func ParseCompression(format string, level int) (Compression, error) {
	l, ok := levels[format]
	if !ok {
		return Compression{}, fmt.Errorf("unsupported compression %q; use zstd or gzip", format)
	}
	if level < 0 || level > l.max {
		return Compression{}, fmt.Errorf("--compression-level %d: %s takes 1 (fastest) to %d (smallest, the default)", level, format, l.max)
	}
	return Compression{Format: format, Level: level}, nil
}

// level is the level in effect.
func (c Compression) level() int {
	if c.Level == 0 {
		return levels[c.Format].def
	}
	return c.Level
}

func (c Compression) String() string { return fmt.Sprintf("%s-%d", c.Format, c.level()) }

func (c Compression) mediaType() types.MediaType {
	if c.Format == "zstd" {
		return types.OCILayerZStd
	}
	return types.OCILayer
}

// encoder compresses layer blobs in one format.
type encoder interface {
	// name names the encoder and its settings.
	name() string
	writer(w io.Writer) (io.WriteCloser, error)
}

func (c Compression) encoder() encoder {
	if c.Format == "zstd" {
		return zstdEncoder{level: c.level()}
	}
	return gzipEncoder{level: c.level()}
}

// encoderIDs memoizes encoderID.
var encoderIDs sync.Map // Compression -> string

// encoderID is part of a compressed layer's cache key: the encoder's name and settings, and a
// fingerprint of what it makes of a fixed input, so that a new version of an encoder library
// that compresses differently never reuses the old one's blobs (whose digests would differ
// from a fresh build's).
func (c Compression) encoderID() (string, error) {
	if id, ok := encoderIDs.Load(c); ok {
		return id.(string), nil
	}
	e := c.encoder()
	h := sha256.New()
	w, err := e.writer(h)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(fingerprintInput()); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	id := e.name() + "-" + hex.EncodeToString(h.Sum(nil)[:8])
	encoderIDs.Store(c, id)
	return id, nil
}

// fingerprintInput is 64 KiB that compress somewhat, as binaries do.
func fingerprintInput() []byte {
	b := make([]byte, 0, 64<<10)
	for i := uint32(1); len(b) < cap(b); i = i*1103515245 + 12345 {
		b = append(b, byte(i>>16), byte(i>>24), 0, 0x48, 0x89, byte(i>>20)&7)
	}
	return b[:cap(b)]
}

// gzipEncoder is klauspost's gzip, which gives the standard library's bytes faster.
type gzipEncoder struct{ level int }

func (e gzipEncoder) name() string { return fmt.Sprintf("gzip-%d", e.level) }

func (e gzipEncoder) writer(w io.Writer) (io.WriteCloser, error) {
	return gzip.NewWriterLevel(w, e.level)
}
