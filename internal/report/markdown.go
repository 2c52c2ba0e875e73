package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// missing marks a cell with nothing to show: a platform that was not built, or not in the reference.
const missing = "—"

// Markdown writes one table per Kubernetes version, oldest first: one row per image, one
// column per platform (amd64, arm64, arm/v7 always, so tables of different builds line up, then
// any other platform built), cells "compressed / extracted" in MiB with two decimals like the
// original project's table, "—" where a platform was not built.
func Markdown(w io.Writer, rows []Row) error {
	rows = sorted(rows)
	bw := bufio.NewWriter(w)
	for i, version := range versions(rows) {
		if i > 0 {
			bw.WriteString("\n")
		}
		vrows := rowsOf(rows, version)
		cols := columns(vrows)
		fmt.Fprintf(bw, "### Kubernetes %s\n\nMiB compressed / extracted:\n\n", version)
		writeHeader(bw, cols)
		for _, r := range vrows {
			cells := make([]string, len(cols))
			for j, p := range cols {
				cells[j] = missing
				if s, ok := r.Sizes[p]; ok {
					cells[j] = MiB(s.Compressed) + " / " + MiB(s.Extracted)
				}
			}
			writeRow(bw, r.Image, cells)
		}
	}
	return bw.Flush()
}

// Reference holds another build's published sizes: image -> platform ("linux/amd64") ->
// {compressed MiB, extracted MiB}.
type Reference map[string]map[string][2]float64

// OriginalName describes OriginalV1260 in Compare's heading.
const OriginalName = "the original project's published sizes (gzip layers)"

// OriginalVersion is the original project's last release, the version OriginalV1260 describes.
const OriginalVersion = "v1.26.0"

// OriginalV1260 is the original project's (cloudtogo/containerized-kubelet) published v1.26.0
// table, the sizes ckubelet set out to beat.
var OriginalV1260 = Reference{
	"kubelet": {
		"linux/amd64":  {26.37, 79.15},
		"linux/arm64":  {24.72, 76.52},
		"linux/arm/v7": {24.27, 69.70},
	},
	"flannel": {
		"linux/amd64":  {31.00, 83.87},
		"linux/arm64":  {28.98, 80.89},
		"linux/arm/v7": {28.64, 74.18},
	},
	"cni": {
		"linux/amd64":  {44.43, 97.58},
		"linux/arm64":  {41.32, 93.56},
		"linux/arm/v7": {41.20, 87.07},
	},
	"kubeadm": {
		"linux/amd64":  {48.50, 102.04},
		"linux/arm64":  {43.65, 96.24},
		"linux/arm/v7": {42.27, 88.44},
	},
	"kubeadm-cni": {
		"linux/amd64":  {66.56, 120.47},
		"linux/arm64":  {60.25, 113.28},
		"linux/arm/v7": {59.19, 105.80},
	},
}

// Compare writes a table of one version's sizes relative to ref, "compressed× / extracted×"
// (e.g. "0.78× / 1.05×": below 1× is smaller than the reference), for the images ref lists;
// "—" where either side lacks the platform. Images ref does not list (kube-proxy, pause for
// OriginalV1260) have nothing to compare with and are left out.
func Compare(w io.Writer, rows []Row, version, refName string, ref Reference) error {
	vrows := rowsOf(rows, version)
	if len(vrows) == 0 {
		return fmt.Errorf("no images of Kubernetes %s to compare", version)
	}
	measured := map[string]Row{}
	for _, r := range vrows {
		measured[r.Image] = r
	}
	images := slices.SortedFunc(maps.Keys(ref), compareImages)
	var refPlatforms []string
	for _, ps := range ref {
		refPlatforms = append(refPlatforms, slices.Collect(maps.Keys(ps))...)
	}
	cols := platformColumns(refPlatforms)

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Kubernetes %s relative to %s, compressed / extracted (below 1× is smaller):\n\n", version, refName)
	writeHeader(bw, cols)
	for _, image := range images {
		cells := make([]string, len(cols))
		for j, p := range cols {
			cells[j] = missing
			s, ok := measured[image].Sizes[p]
			want, okRef := ref[image][p]
			if ok && okRef && want[0] > 0 && want[1] > 0 {
				cells[j] = fmt.Sprintf("%.2f× / %.2f×", mib(s.Compressed)/want[0], mib(s.Extracted)/want[1])
			}
		}
		writeRow(bw, image, cells)
	}
	return bw.Flush()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// sorted orders a copy of rows like Measure does, so that output does not depend on the caller's
// order.
func sorted(rows []Row) []Row {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Row) int {
		return cmp.Or(compareVersions(a.Version, b.Version), compareImages(a.Image, b.Image))
	})
	return rows
}

// versions lists the Kubernetes versions of rows in their order.
func versions(rows []Row) []string {
	var vs []string
	for _, r := range rows {
		if !slices.Contains(vs, r.Version) {
			vs = append(vs, r.Version)
		}
	}
	return vs
}

func rowsOf(rows []Row, version string) []Row {
	return slices.DeleteFunc(slices.Clone(rows), func(r Row) bool { return r.Version != version })
}

// columns lists the platforms a table shows for rows.
func columns(rows []Row) []string {
	var ps []string
	for _, r := range rows {
		ps = append(ps, slices.Collect(maps.Keys(r.Sizes))...)
	}
	return platformColumns(ps)
}

// platformColumns are the default platforms, so that tables of different builds line up, plus
// any other of ps, in column order.
func platformColumns(ps []string) []string {
	cols := strings.Split(catalog.DefaultPlatforms, ",")
	for _, p := range ps {
		if !slices.Contains(cols, p) {
			cols = append(cols, p)
		}
	}
	slices.SortFunc(cols, comparePlatforms)
	return cols
}

// shortPlatform drops the OS from column titles: every platform ckubelet builds is linux.
func shortPlatform(p string) string {
	if s, ok := strings.CutPrefix(p, "linux/"); ok {
		return s
	}
	return p
}

func writeHeader(w *bufio.Writer, cols []string) { writeHeaderAfter(w, []string{"image"}, cols) }

// writeHeaderAfter writes a table header of the lead columns, then one per platform.
func writeHeaderAfter(w *bufio.Writer, lead, cols []string) {
	titles := make([]string, len(cols))
	for i, p := range cols {
		titles[i] = shortPlatform(p)
	}
	writeRow(w, strings.Join(lead, " | "), titles)
	w.WriteString(strings.Repeat("|---", len(lead)+len(cols)) + "|\n")
}

func writeRow(w *bufio.Writer, first string, cells []string) {
	w.WriteString("| " + first + " | " + strings.Join(cells, " | ") + " |\n")
}
