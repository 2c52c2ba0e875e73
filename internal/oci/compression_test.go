package oci

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestParseCompression(t *testing.T) {
	for _, tc := range []struct {
		format string
		level  int
		want   string // String(), or the error
	}{
		{"zstd", 0, "zstd-19"},
		{"zstd", 3, "zstd-3"},
		{"zstd", 19, "zstd-19"},
		{"gzip", 0, "gzip-9"},
		{"gzip", 1, "gzip-1"},
		{"zstd", 20, "--compression-level 20: zstd takes 1 (fastest) to 19 (smallest, the default)"},
		{"gzip", 10, "--compression-level 10: gzip takes 1 (fastest) to 9 (smallest, the default)"},
		{"zstd", -1, "--compression-level -1: zstd takes 1 (fastest) to 19 (smallest, the default)"},
		{"xz", 0, `unsupported compression "xz"; use zstd or gzip`},
	} {
		c, err := ParseCompression(tc.format, tc.level)
		got := c.String()
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ParseCompression(%q, %d) = %q, want %q", tc.format, tc.level, got, tc.want)
		}
	}
}

// compressible is n bytes that compress about as a binary does, the same for every run.
func compressible(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := make([][]byte, 4096)
	for i := range words {
		words[i] = make([]byte, 3+r.IntN(12))
		for j := range words[i] {
			words[i][j] = byte(r.IntN(256))
		}
	}
	var b bytes.Buffer
	for b.Len() < n {
		b.Write(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func compress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := c.encoder().writer(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Written in odd pieces, as a tar writer does.
	for i := 0; i < len(data); i += 10007 {
		if _, err := w.Write(data[i:min(i+10007, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestZstdWindow checks that even the strongest level declares a window of at most 8 MiB, so a
// node with little memory can decompress every layer, and that such a decoder reads it back.
func TestZstdWindow(t *testing.T) {
	data := compressible(12 << 20) // larger than the window
	for _, level := range []int{1, 19} {
		c, err := ParseCompression("zstd", level)
		if err != nil {
			t.Fatal(err)
		}
		blob := compress(t, c, data)
		var h zstd.Header
		if err := h.Decode(blob); err != nil {
			t.Fatal(err)
		}
		if h.WindowSize == 0 || h.WindowSize > 8<<20 {
			t.Errorf("%s: window %d bytes, want at most 8 MiB", c, h.WindowSize)
		}
		d, err := zstd.NewReader(bytes.NewReader(blob), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		d.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: decoded %d bytes, %v; want the %d written", c, len(got), err, len(data))
		}
		t.Logf("%s: %d -> %d bytes, window %d", c, len(data), len(blob), h.WindowSize)
	}
}

// TestEncoderIDs checks that formats and levels have cache keys of their own, and that a level
// changes the bytes while the same level repeats them.
func TestEncoderIDs(t *testing.T) {
	data := compressible(1 << 20)
	seen := map[string]string{}
	for _, c := range []Compression{Zstd, {Format: "zstd", Level: 3}, Gzip, {Format: "gzip", Level: 1}} {
		id, err := c.encoderID()
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s: encoder id %q (also %s)", c, id, other)
		}
		seen[id] = c.String()
		if a, b := compress(t, c, data), compress(t, c, data); !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", c)
		}
	}
	if bytes.Equal(compress(t, Zstd, data), compress(t, Compression{Format: "zstd", Level: 3}, data)) {
		t.Error("zstd levels 19 and 3 gave the same bytes")
	}
}
