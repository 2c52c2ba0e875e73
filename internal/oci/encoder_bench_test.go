package oci

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// BenchmarkEncoders measures what each layer encoder costs and saves on a real binary:
// CKUBELET_BENCH_FILE (e.g. a kubelet from the build cache), else this test binary. Besides
// ns/op and MB/s it reports the compressed size as a share of the input ("ratio"). klauspost's
// best level, the encoder ckubelet used before the reference library, is there to compare.
//
//	CKUBELET_BENCH_FILE=/path/to/kubelet go test -run '^$' -bench Encoders -benchtime 1x ./internal/oci/
func BenchmarkEncoders(b *testing.B) {
	path := os.Getenv("CKUBELET_BENCH_FILE")
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			b.Fatal(err)
		}
	}
	input, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	encoders := []struct {
		name string
		new  func(io.Writer) (io.WriteCloser, error)
	}{
		{"zstd-19", Zstd.encoder().writer},
		{"zstd-9", Compression{Format: "zstd", Level: 9}.encoder().writer},
		{"zstd-3", Compression{Format: "zstd", Level: 3}.encoder().writer},
		{"klauspost-zstd-best", func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
		}},
		{"gzip-9", Gzip.encoder().writer},
	}
	for _, e := range encoders {
		b.Run(e.name, func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				w, err := e.new(&out)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(input); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(len(input)), "ratio")
		})
	}
}
