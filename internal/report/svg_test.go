package report

import (
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// svgText decodes an SVG, failing the test if it is not well-formed XML, and returns the root
// element's width and the text of every text element.
func svgText(t *testing.T, svg string) (width string, texts []string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
				}
				for _, a := range tok.Attr {
					if a.Name.Local == "width" {
						width = a.Value
					}
				}
			}
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] == "text" {
				texts = append(texts, string(tok))
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return width, texts
}

func TestSVG(t *testing.T) {
	tests := []struct {
		name      string
		rows      []Row
		want      []string // texts that must appear
		wantNot   []string
		wantError bool
	}{
		{
			name: "one version",
			rows: rowsOf(fixture, "v1.37.2"),
			want: []string{"Compressed image size by platform", "compressed size (MiB)", "image",
				"amd64", "arm64", "arm/v7", "kubelet", "kubeadm-cni", "kube-proxy", "pause",
				"26.37", "24.72", "24.27", "0.25", "arm/v7 not built", "0", "60"},
			wantNot: []string{"Kubernetes v1.37.2", "riscv64"}, // one version: named in the subtitle, no heading
		},
		{
			name: "two versions get headings and the extra platform",
			rows: fixture,
			want: []string{"Kubernetes v1.10.0", "Kubernetes v1.37.2", "riscv64", "17.50", "18.00"},
		},
		{
			name:    "platforms no image was built for get no bars and no legend",
			rows:    []Row{row("v1.37.2", "kubelet", size("linux/amd64", 29.87, 99.34)), row("v1.37.2", "pause", size("linux/amd64", 0.3, 0.66))},
			want:    []string{"amd64", "29.87", "0.30"},
			wantNot: []string{"arm64", "arm/v7", "arm64 not built", "arm/v7 not built"},
		},
		{name: "nothing to chart", rows: nil, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a strings.Builder
			err := SVG(&a, tt.rows)
			if tt.wantError {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			width, texts := svgText(t, a.String())
			if width != "800" {
				t.Errorf("width %q, want 800", width)
			}
			for _, w := range tt.want {
				if !slices.Contains(texts, w) {
					t.Errorf("no text %q in %q", w, texts)
				}
			}
			for _, w := range tt.wantNot {
				if slices.Contains(texts, w) {
					t.Errorf("unexpected text %q", w)
				}
			}

			// Deterministic: the same rows in another order give the same bytes.
			rev := slices.Clone(tt.rows)
			slices.Reverse(rev)
			var b strings.Builder
			if err := SVG(&b, rev); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Error("output depends on row order")
			}
		})
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		max, step, axisMax float64
	}{
		{0, 1, 1},
		{0.5, 0.1, 0.5},
		{26.37, 5, 30},
		{66.56, 10, 70},
		{120, 20, 120},
		{121, 20, 140},
	}
	for _, tt := range tests {
		step, axisMax := ticks(tt.max)
		if !near(step, tt.step) || !near(axisMax, tt.axisMax) {
			t.Errorf("ticks(%v) = %v, %v; want %v, %v", tt.max, step, axisMax, tt.step, tt.axisMax)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
