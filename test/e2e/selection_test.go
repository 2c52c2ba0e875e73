//go:build conformance

package e2e

import "strings"

// The selection: upstream's node conformance specs, without the ones that need more than a
// parallel run on one node (the skip is the issue's, unchanged).
const (
	focus = `\[NodeConformance\]`
	skip  = `\[Serial\]|\[Slow\]|\[Flaky\]|\[Disruptive\]|\[Feature:[^]]+\]`
)

// ciSubset is the part of the selection CI runs (CKUBELET_CONFORMANCE_SUBSET=ci), because the
// whole selection, twice, does not fit CI's time: the specs of a node's own duties, by their
// upstream containers (Describe texts), each still [NodeConformance] and under the same skip.
// The README lists them.
var ciSubset = []string{
	// exec, attach and logs through kubelet's API (port-forward has no node conformance spec;
	// the e2e and VM tests cover it)
	`\[sig-node\] Pods `, `\[sig-node\] Kubelet `, `\[sig-node\] Ephemeral Containers`,
	// probes, lifecycle hooks, termination and restart policies, image pulls from the registry
	`\[sig-node\] Probing container`, `\[sig-node\] Container Lifecycle Hook`,
	`\[sig-node\] Container Runtime`, `\[sig-node\] InitContainer`,
	// security contexts
	`\[sig-node\] Security Context`,
	// every volume type: configMap, secret, projected, downwardAPI, emptyDir (memory medium
	// too), hostPath, subPath (Variable Expansion substitutes into subPaths)
	`\[sig-storage\] ConfigMap`, `\[sig-storage\] Secrets`, `\[sig-storage\] Projected`,
	`\[sig-storage\] Downward API volume`, `\[sig-storage\] EmptyDir`, `\[sig-storage\] HostPath`,
	`\[sig-node\] Variable Expansion`,
}

// ciFocus is ciSubset as one ginkgo focus: a container at the start of the spec's text, and
// [NodeConformance] after it.
func ciFocus() string {
	return `(` + strings.Join(ciSubset, "|") + `).*` + focus
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
