package upx

import (
	"fmt"
	"slices"
	"strings"
)

// Tools are what may be packed: short-lived tools, never kubelet, kube-proxy or pause, which run
// for the node's life.
var Tools = []string{"kubeadm", "crictl", "cni"}

// DefaultTools is what --upx packs unless told otherwise, from what packing costs and saves,
// measured on amd64 with zstd -19 layers (README, "UPX"): kubeadm runs once per join and saves
// 1.45 MB of download and 62 MB of disk; crictl is a debugging tool and saves 0.74 MB and 21 MB.
// The CNI plugins would save 0.33 MB and 8.8 MB, but the runtime executes one about four times
// for every pod sandbox, and each packed start costs 0.22 s and the decompressed binary in
// memory: not worth it.
const DefaultTools = "kubeadm,crictl"

// Selection is which tools to pack.
type Selection map[string]bool

// ParseSelection parses --upx: a comma list of Tools, "all", or "none".
func ParseSelection(list string) (Selection, error) {
	s := Selection{}
	for _, t := range strings.Split(list, ",") {
		switch t = strings.TrimSpace(t); {
		case t == "" || t == "none":
		case t == "all":
			for _, t := range Tools {
				s[t] = true
			}
		case slices.Contains(Tools, t):
			s[t] = true
		default:
			return nil, fmt.Errorf("--upx %q: unknown tool %q; want a comma list of %s, all or none", list, t, strings.Join(Tools, ", "))
		}
	}
	return s, nil
}

// Any says whether the selection packs anything.
func (s Selection) Any() bool { return len(s) > 0 }
