package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Chart geometry, in pixels of an 800 px wide drawing. Bars run horizontally: image names then
// read left to right, value labels fit at the bar ends at any bar count, and a chart of several
// versions grows in height instead of squeezing its bars.
const (
	chartWidth   = 800
	plotLeft     = 130 // image names go left of it
	plotRight    = chartWidth - 64
	plotTop      = 96 // below title, subtitle and legend
	barHeight    = 15
	barGap       = 3
	groupPad     = 9  // above and below each image's bars
	sectionHead  = 28 // a version's heading, when the chart has several
	axisBelow    = 56 // tick labels and axis title
	fontFamily   = "DejaVu Sans, Helvetica, Arial, sans-serif"
	textColor    = "#222"
	mutedColor   = "#666"
	gridColor    = "#d9d9d9"
	bandColor    = "#f4f4f4"
	valueFont    = 11
	labelFont    = 13
	approxCharPx = 0.6 // average glyph width per px of font size, to lay out the legend
)

// platformColors are Paul Tol's colour-blind-safe "bright" scheme, in column order; platforms
// beyond these take grey.
var platformColors = []string{"#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377"}

// SVG writes a self-contained horizontal grouped bar chart of the compressed sizes (what a node
// downloads): one group per image, under a heading per Kubernetes version when there are several,
// one bar per platform built with its value in MiB at its end, "not built" where an image lacks a
// platform that others have.
// Extracted sizes are left to the Markdown table: a second bar per platform would halve legibility.
// The output depends only on rows, so a committed chart changes only when sizes do.
func SVG(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return errors.New("no images to chart")
	}
	rows = sorted(rows)
	vs := versions(rows)
	// Only the platforms built: in a chart, a bar slot that is empty for every image is just noise.
	var cols []string
	for _, c := range columns(rows) {
		if slices.ContainsFunc(rows, func(r Row) bool { _, ok := r.Sizes[c]; return ok }) {
			cols = append(cols, c)
		}
	}
	multi := len(vs) > 1

	var maxMiB float64
	for _, r := range rows {
		for _, s := range r.Sizes {
			maxMiB = max(maxMiB, mib(s.Compressed))
		}
	}
	step, axisMax := ticks(maxMiB)
	scale := float64(plotRight-plotLeft) / axisMax

	groupHeight := 2*groupPad + len(cols)*barHeight + (len(cols)-1)*barGap
	plotBottom := plotTop + len(rows)*groupHeight
	if multi {
		plotBottom += len(vs) * sectionHead
	}
	height := plotBottom + axisBelow

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" fill="%s">`+"\n",
		chartWidth, height, chartWidth, height, fontFamily, textColor)
	title := "Compressed image size by platform"
	subtitle := "MiB a node pulls (manifest + config + compressed layers); Kubernetes " + strings.Join(vs, ", ")
	p("<title>%s</title>\n", esc(title+" — "+subtitle))
	p(`<rect width="%d" height="%d" fill="#fff"/>`+"\n", chartWidth, height)
	p(`<text x="%d" y="30" font-size="19" font-weight="bold">%s</text>`+"\n", plotLeft, esc(title))
	p(`<text x="%d" y="52" font-size="12.5" fill="%s">%s</text>`+"\n", plotLeft, mutedColor, esc(subtitle))

	// Legend: one swatch per platform column, in column order.
	x := float64(plotLeft)
	for i, c := range cols {
		p(`<rect x="%s" y="66" width="13" height="13" fill="%s"/>`+"\n", num(x), color(i))
		p(`<text x="%s" y="77" font-size="%d">%s</text>`+"\n", num(x+18), labelFont, esc(shortPlatform(c)))
		x += 18 + float64(len(shortPlatform(c)))*labelFont*approxCharPx + 26
	}

	// Background bands first so that grid lines and bars draw over them.
	y := plotTop
	type group struct {
		row Row
		top int
	}
	var groups []group
	type heading struct {
		version string
		top     int
	}
	var headings []heading
	for _, v := range vs {
		if multi {
			headings = append(headings, heading{v, y})
			y += sectionHead
		}
		for i, r := range rowsOf(rows, v) {
			if i%2 == 0 {
				p(`<rect x="0" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", y, chartWidth, groupHeight, bandColor)
			}
			groups = append(groups, group{r, y})
			y += groupHeight
		}
	}

	// Grid and x axis.
	for i := range int(math.Round(axisMax/step)) + 1 {
		t := float64(i) * step // multiplied, not summed, so that float error does not accumulate
		gx := num(plotLeft + t*scale)
		p(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s"/>`+"\n", gx, plotTop, gx, plotBottom, gridColor)
		p(`<text x="%s" y="%d" font-size="%d" text-anchor="middle" fill="%s">%s</text>`+"\n",
			gx, plotBottom+18, valueFont, mutedColor, tickLabel(t, step))
	}
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", plotLeft, plotTop, plotLeft, plotBottom, textColor)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", plotLeft, plotBottom, plotRight, plotBottom, textColor)
	// Version headings cover the grid of their row, so that the chart reads as one panel per version.
	for _, h := range headings {
		p(`<rect x="0" y="%d" width="%d" height="%d" fill="#fff"/>`+"\n", h.top, chartWidth, sectionHead)
		p(`<text x="%d" y="%d" font-size="14" font-weight="bold">Kubernetes %s</text>`+"\n", 32, h.top+20, esc(h.version))
	}
	p(`<text x="%s" y="%d" font-size="%d" text-anchor="middle">compressed size (MiB)</text>`+"\n",
		num(float64(plotLeft+plotRight)/2), plotBottom+42, labelFont)
	p(`<text transform="translate(18 %s) rotate(-90)" font-size="%d" text-anchor="middle">image</text>`+"\n",
		num(float64(plotTop+plotBottom)/2), labelFont)

	for _, g := range groups {
		p(`<text x="%d" y="%s" font-size="%d" text-anchor="end">%s</text>`+"\n",
			plotLeft-10, num(float64(g.top)+float64(groupHeight)/2+labelFont*0.35), labelFont, esc(g.row.Image))
		for i, c := range cols {
			by := g.top + groupPad + i*(barHeight+barGap)
			ty := num(float64(by) + barHeight/2.0 + valueFont*0.35) // baseline that centres the text on the bar
			s, ok := g.row.Sizes[c]
			if !ok {
				p(`<text x="%d" y="%s" font-size="%d" font-style="italic" fill="%s">%s not built</text>`+"\n",
					plotLeft+4, ty, valueFont, mutedColor, esc(shortPlatform(c)))
				continue
			}
			v := mib(s.Compressed)
			bw := v * scale
			p(`<rect x="%d" y="%d" width="%s" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				plotLeft, by, num(bw), barHeight, color(i), esc(fmt.Sprintf("%s %s %s: %s MiB compressed, %s MiB extracted",
					g.row.Version, g.row.Image, c, MiB(s.Compressed), MiB(s.Extracted))))
			p(`<text x="%s" y="%s" font-size="%d">%s</text>`+"\n", num(plotLeft+bw+4), ty, valueFont, MiB(s.Compressed))
		}
	}
	p("</svg>\n")

	_, err := io.WriteString(w, b.String())
	return err
}

// ticks picks a step of 1, 2 or 5 × 10ⁿ MiB giving at most 8 intervals, and the axis end: the first
// step at or above the largest value.
func ticks(maxValue float64) (step, axisMax float64) {
	if maxValue <= 0 {
		return 1, 1
	}
	raw := maxValue / 8
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step, math.Ceil(maxValue/step-1e-9) * step
}

// tickLabel prints a tick without float noise: as many decimals as the step needs.
func tickLabel(t, step float64) string {
	decimals := max(0, int(-math.Floor(math.Log10(step))))
	return strconv.FormatFloat(t, 'f', decimals, 64)
}

// num prints a coordinate to 0.1 px: finer is invisible, and fixed precision keeps output stable.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func color(i int) string {
	if i < len(platformColors) {
		return platformColors[i]
	}
	return "#999"
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
