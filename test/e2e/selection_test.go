//go:build conformance

package e2e

import "strings"

// The selection: upstream's node conformance specs, without the ones that need more than a
// parallel run on one node (the skip is the issue's, unchanged).
const (
	focus = `\[NodeConformance\]`
	skip  = `\[Serial\]|\[Slow\]|\[Flaky\]|\[Disruptive\]|\[Feature:[^]]+\]`
)

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
