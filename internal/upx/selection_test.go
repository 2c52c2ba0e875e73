package upx

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseSelection(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: DefaultTools, want: "crictl kubeadm"},
		{in: "all", want: "cni crictl kubeadm"},
		{in: "none", want: ""},
		{in: "", want: ""},
		{in: " cni , kubeadm", want: "cni kubeadm"},
		{in: "kubelet", err: `--upx "kubelet": unknown tool "kubelet"; want a comma list of kubeadm, crictl, cni, all or none`},
	} {
		s, err := ParseSelection(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if got := strings.Join(slices.Sorted(maps.Keys(s)), " "); err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
