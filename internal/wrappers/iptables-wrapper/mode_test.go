package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestBackend(t *testing.T) {
	for name, want := range map[string]string{
		"iptables":          "iptables-nft",
		"iptables-save":     "iptables-nft-save",
		"ip6tables-restore": "ip6tables-nft-restore",
	} {
		if got := backend(name, "nft"); got != want {
			t.Errorf("backend(%q, nft) = %q, want %q", name, got, want)
		}
	}
	if got := backend("ip6tables-save", "legacy"); got != "ip6tables-legacy-save" {
		t.Errorf("backend(ip6tables-save, legacy) = %q", got)
	}
}

const (
	hint    = "*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n"
	canary  = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n"
	rules2  = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
	rules1  = "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n"
	decoy   = "*filter\n:KUBE-IPTABLES-HINT-NOT - [0:0]\n-A INPUT -m comment --comment \":KUBE-KUBELET-CANARY\" -j ACCEPT\nCOMMIT\n"
	nftMgl  = "iptables-nft-save -t mangle"
	nft6Mgl = "ip6tables-nft-save -t mangle"
	leg     = "iptables-legacy-save"
	leg6    = "ip6tables-legacy-save"
	nft     = "iptables-nft-save"
	nft6    = "ip6tables-nft-save"
)

func TestChooseMode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dumps map[string]string // command line -> output; missing commands print nothing
		want  string
		ran   []string
	}{
		{"nothing anywhere", nil, "nft", []string{nftMgl, nft6Mgl, leg, leg6, nft, nft6}},
		{"hint in nft", map[string]string{nftMgl: hint, leg: hint}, "nft", []string{nftMgl, nft6Mgl}},
		{"canary in ip6 nft", map[string]string{nft6Mgl: canary}, "nft", []string{nftMgl, nft6Mgl}},
		{"hint in legacy only", map[string]string{leg: hint, nft: rules2}, "legacy", []string{nftMgl, nft6Mgl, leg, leg6}},
		{"canary in ip6 legacy only", map[string]string{leg6: canary}, "legacy", []string{nftMgl, nft6Mgl, leg, leg6}},
		{"no hints, more legacy rules", map[string]string{leg: rules2, nft6: rules1}, "legacy", []string{nftMgl, nft6Mgl, leg, leg6, nft, nft6}},
		{"no hints, more nft rules", map[string]string{leg: rules1, nft: rules2}, "nft", []string{nftMgl, nft6Mgl, leg, leg6, nft, nft6}},
		{"no hints, tie", map[string]string{leg: rules1, nft6: rules1}, "nft", []string{nftMgl, nft6Mgl, leg, leg6, nft, nft6}},
		{"look-alike chains are not hints", map[string]string{leg: decoy, nftMgl: decoy, nft: decoy}, "nft", []string{nftMgl, nft6Mgl, leg, leg6, nft, nft6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			got := chooseMode(func(cmd string, args ...string) string {
				line := strings.Join(append([]string{cmd}, args...), " ")
				ran = append(ran, line)
				return tc.dumps[line]
			})
			if got != tc.want {
				t.Errorf("mode = %s, want %s", got, tc.want)
			}
			if !reflect.DeepEqual(ran, tc.ran) {
				t.Errorf("ran %q, want %q", ran, tc.ran)
			}
		})
	}
}

// TestLineParsing checks the hand-written parsing against the strings-based code it replaced.
func TestLineParsing(t *testing.T) {
	oldCount := func(dump string, pred func(string) bool) int {
		n := 0
		for _, l := range strings.Split(dump, "\n") {
			if pred(l) {
				n++
			}
		}
		return n
	}
	oldIsHint := func(line string) bool {
		decl, ok := strings.CutPrefix(line, ":")
		chain, _, _ := strings.Cut(decl, " ")
		return ok && (chain == "KUBE-IPTABLES-HINT" || chain == "KUBE-KUBELET-CANARY")
	}
	oldIsRule := func(line string) bool { return strings.HasPrefix(line, "-") }
	lines := []string{"", ":", "-", " ", ":KUBE-IPTABLES-HINT", ":KUBE-IPTABLES-HINT - [0:0]", ":KUBE-KUBELET-CANARY - [0:0]",
		" :KUBE-IPTABLES-HINT", "KUBE-IPTABLES-HINT", ":KUBE-IPTABLES-HINT\r", ":KUBE-KUBELET-CANARY-X", ":KUBE", "-A X", " -A X", "*mangle", "COMMIT"}
	for _, l := range lines {
		if got, want := isHint(l), oldIsHint(l); got != want {
			t.Errorf("isHint(%q) = %v, want %v", l, got, want)
		}
		if got, want := isRule(l), oldIsRule(l); got != want {
			t.Errorf("isRule(%q) = %v, want %v", l, got, want)
		}
	}
	dumps := []string{"", "\n", "\n\n", hint, canary, rules2, rules1, decoy, strings.Join(lines, "\n"), strings.Join(lines, "\n") + "\n",
		":KUBE-IPTABLES-HINT", "-A X\n-A Y", "\n:KUBE-KUBELET-CANARY\n"}
	for _, d := range dumps {
		for name, pred := range map[string]func(string) bool{"isHint": isHint, "isRule": isRule} {
			if got, want := count(d, pred), oldCount(d, pred); got != want {
				t.Errorf("count(%q, %s) = %d, want %d", d, name, got, want)
			}
		}
	}
	for _, s := range []string{"", "-", "a", "a-", "-a", "a-b-c", "iptables-save"} {
		b, a, f := cut(s, '-')
		wb, wa, wf := strings.Cut(s, "-")
		if b != wb || a != wa || f != wf {
			t.Errorf("cut(%q) = %q, %q, %v, want %q, %q, %v", s, b, a, f, wb, wa, wf)
		}
	}
}
