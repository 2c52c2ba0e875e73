package report

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// LayersMarkdown writes, per Kubernetes version, where the bytes go: one row per distinct layer,
// listed under the first image (in report order) that carries it, cells "compressed / extracted"
// in MiB per platform. Then, for the images whose payload is one binary layer (kubelet,
// kube-proxy), the image's compressed size over that layer's: what everything beside the binary
// costs, the measure of how close the image is to the binary alone.
func LayersMarkdown(w io.Writer, rows []Row) error {
	rows = sorted(rows)
	bw := bufio.NewWriter(w)
	for i, version := range versions(rows) {
		if i > 0 {
			bw.WriteString("\n")
		}
		vrows := rowsOf(rows, version)
		cols := columns(vrows)
		type layerRow struct {
			image, label string
			sizes        map[string]LayerSize
		}
		var table []*layerRow
		byKey := map[[2]string]*layerRow{}
		seen := map[string]bool{} // platform + layer digest
		for _, r := range vrows {
			for _, p := range cols {
				for _, l := range r.Sizes[p].Layers {
					if seen[p+l.Digest.String()] {
						continue
					}
					seen[p+l.Digest.String()] = true
					k := [2]string{r.Image, LayerLabel(l.CreatedBy)}
					lr := byKey[k]
					if lr == nil {
						lr = &layerRow{image: k[0], label: k[1], sizes: map[string]LayerSize{}}
						byKey[k] = lr
						table = append(table, lr)
					}
					lr.sizes[p] = l
				}
			}
		}
		fmt.Fprintf(bw, "### Where the bytes go: Kubernetes %s\n\nMiB compressed / extracted per layer, under the first image that carries it:\n\n", version)
		writeHeaderAfter(bw, []string{"image", "layer"}, cols)
		for _, lr := range table {
			cells := make([]string, len(cols))
			for j, p := range cols {
				cells[j] = missing
				if l, ok := lr.sizes[p]; ok {
					cells[j] = MiB(l.Compressed) + " / " + MiB(l.Extracted)
				}
			}
			writeRow(bw, lr.image+" | "+lr.label, cells)
		}

		fmt.Fprintf(bw, "\nCompressed image over its binary's layer:\n\n")
		writeHeader(bw, cols)
		for _, r := range vrows {
			if r.Image != "kubelet" && r.Image != "kube-proxy" {
				continue
			}
			cells := make([]string, len(cols))
			for j, p := range cols {
				cells[j] = missing
				s := r.Sizes[p]
				for _, l := range s.Layers {
					if strings.HasPrefix(LayerLabel(l.CreatedBy), r.Image+" ") && l.Compressed > 0 {
						cells[j] = fmt.Sprintf("%.2f×", float64(s.Compressed)/float64(l.Compressed))
					}
				}
			}
			writeRow(bw, r.Image, cells)
		}
	}
	return bw.Flush()
}

// LayerLabel shortens a layer's created-by to what it holds: "ckubelet: kubelet v1.37.2 from
// k8s.io/kubernetes@v1.37.2 h1:…" is "kubelet v1.37.2", "ckubelet: userland from Debian
// trixie/amd64: …" is "userland", "ckubelet: CNI plugins v1.10.0 [bridge …] and their installer"
// is "CNI plugins v1.10.0"; a binary's path is its name ("/usr/bin/kubelet v1.37.2" is "kubelet
// v1.37.2").
func LayerLabel(createdBy string) string {
	s := strings.TrimPrefix(createdBy, "ckubelet: ")
	for _, sep := range []string{" from ", " [", " (", ":"} {
		s, _, _ = strings.Cut(s, sep)
	}
	if first, rest, ok := strings.Cut(s, " "); ok && strings.HasPrefix(first, "/") {
		s = path.Base(first) + " " + rest
	}
	return s
}
