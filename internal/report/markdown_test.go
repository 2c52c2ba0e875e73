package report

import (
	"math"
	"strings"
	"testing"
)

// mb turns MiB into bytes, so that fixtures read like the tables they produce.
func mb(f float64) int64 { return int64(math.Round(f * (1 << 20))) }

func row(version, image string, sizes ...Size) Row {
	r := Row{Version: version, Image: image, Sizes: map[string]Size{}}
	for _, s := range sizes {
		r.Sizes[s.Platform] = s
	}
	return r
}

func size(platform string, compressed, extracted float64) Size {
	return Size{Platform: platform, Compressed: mb(compressed), Extracted: mb(extracted)}
}

// fixture is deliberately out of order: the writers sort.
var fixture = []Row{
	row("v1.37.2", "pause", size("linux/amd64", 0.25, 0.61), size("linux/arm64", 0.24, 0.58), size("linux/arm/v7", 0.23, 0.55)),
	row("v1.37.2", "kube-proxy", size("linux/amd64", 20.5, 60.25)),
	row("v1.37.2", "kubelet", size("linux/amd64", 26.37, 79.15), size("linux/arm64", 24.72, 76.52), size("linux/arm/v7", 24.27, 69.70)),
	row("v1.37.2", "kubeadm-cni", size("linux/amd64", 51.91, 126.49), size("linux/arm64", 47.0, 119.0)),
	row("v1.10.0", "kubelet", size("linux/amd64", 18, 50), size("linux/riscv64", 17.5, 48.25)),
}

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name string
		rows []Row
		want string
	}{
		{"nothing", nil, ""},
		{"two versions, oldest first, extra platform column", fixture, `### Kubernetes v1.10.0

MiB compressed / extracted:

| image | amd64 | arm64 | arm/v7 | riscv64 |
|---|---|---|---|---|
| kubelet | 18.00 / 50.00 | — | — | 17.50 / 48.25 |

### Kubernetes v1.37.2

MiB compressed / extracted:

| image | amd64 | arm64 | arm/v7 |
|---|---|---|---|
| kubelet | 26.37 / 79.15 | 24.72 / 76.52 | 24.27 / 69.70 |
| kubeadm-cni | 51.91 / 126.49 | 47.00 / 119.00 | — |
| kube-proxy | 20.50 / 60.25 | — | — |
| pause | 0.25 / 0.61 | 0.24 / 0.58 | 0.23 / 0.55 |
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Markdown(&b, tt.rows); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	ref := OriginalV1260
	measured := []Row{
		// kubelet at exactly 0.78× and 1.05× of the original on amd64, equal on arm64.
		row("v1.37.2", "kubelet", size("linux/amd64", 0.78*26.37, 1.05*79.15), size("linux/arm64", 24.72, 76.52)),
		row("v1.37.2", "kubeadm-cni", size("linux/arm/v7", 0.5*59.19, 2*105.80)),
		row("v1.37.2", "pause", size("linux/amd64", 0.25, 0.61)), // not in the reference: left out
		row("v1.36.0", "kubelet", size("linux/amd64", 1.0, 1.0)), // another version: ignored
	}
	tests := []struct {
		name, version string
		ref           Reference
		want, wantErr string
	}{
		{name: "against the original v1.26.0", version: "v1.37.2", ref: ref, want: `Kubernetes v1.37.2 relative to the ref, compressed / extracted (below 1× is smaller):

| image | amd64 | arm64 | arm/v7 |
|---|---|---|---|
| kubelet | 0.78× / 1.05× | 1.00× / 1.00× | — |
| flannel | — | — | — |
| cni | — | — | — |
| kubeadm | — | — | — |
| kubeadm-cni | — | — | 0.50× / 2.00× |
`},
		{name: "zero in the reference", version: "v1.36.0", ref: Reference{"kubelet": {"linux/amd64": {0, 1}}}, want: `Kubernetes v1.36.0 relative to the ref, compressed / extracted (below 1× is smaller):

| image | amd64 | arm64 | arm/v7 |
|---|---|---|---|
| kubelet | — | — | — |
`},
		{name: "version not measured", version: "v1.26.0", ref: ref, wantErr: "no images of Kubernetes v1.26.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			err := Compare(&b, measured, tt.version, "the ref", tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestOriginalV1260 checks the reference against REFERENCE.md's table as printed there.
func TestOriginalV1260(t *testing.T) {
	table := `| kubelet | 26.37 / 79.15 | 24.72 / 76.52 | 24.27 / 69.70 |
| flannel | 31.00 / 83.87 | 28.98 / 80.89 | 28.64 / 74.18 |
| cni | 44.43 / 97.58 | 41.32 / 93.56 | 41.20 / 87.07 |
| kubeadm | 48.50 / 102.04 | 43.65 / 96.24 | 42.27 / 88.44 |
| kubeadm-cni | 66.56 / 120.47 | 60.25 / 113.28 | 59.19 / 105.80 |
`
	var rows []Row
	for image, ps := range OriginalV1260 {
		r := Row{Version: "v1.26.0", Image: image, Sizes: map[string]Size{}}
		for p, v := range ps {
			r.Sizes[p] = Size{Compressed: mb(v[0]), Extracted: mb(v[1])}
		}
		rows = append(rows, r)
	}
	var b strings.Builder
	if err := Markdown(&b, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), table) {
		t.Errorf("OriginalV1260 renders as\n%s\nwant the rows\n%s", b.String(), table)
	}
}
