//go:build !cgo

package oci

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// zstdEncoder, in a ckubelet built without cgo, is klauspost's pure-Go zstd at the nearest of
// its levels: its layers are valid and reproducible, but larger (kubelet's by 13%) and not the
// bytes a cgo build makes. Release builds use cgo.
type zstdEncoder struct{ level int }

func (e zstdEncoder) name() string { return fmt.Sprintf("klauspost-zstd-%d", e.level) }

func (e zstdEncoder) writer(w io.Writer) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(e.level)), zstd.WithWindowSize(8<<20))
}
