package main

// The string handling here is by hand: package strings would cost more binary than these lines.

// wrappedNames are the names the image links to the wrapper: what kubelet and kube-proxy run.
var wrappedNames = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

func wrapped(name string) bool {
	for _, n := range wrappedNames {
		if n == name {
			return true
		}
	}
	return false
}

// backend names the Debian binary for name in mode: iptables-save, nft -> iptables-nft-save.
func backend(name, mode string) string {
	family, suffix, _ := cut(name, '-')
	if suffix != "" {
		suffix = "-" + suffix
	}
	return family + "-" + mode + suffix
}

// saver runs one of the image's iptables save commands and returns what it printed; a command
// that fails counts as printing nothing, as there are no rules to see then.
type saver func(cmd string, args ...string) string

// chooseMode picks the backend the host uses, "nft" or "legacy", the way
// kubernetes-sigs/iptables-wrappers v2 does. Kubelet (1.17 and later) creates the
// KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY chain in the mangle table of the backend it uses, so:
//  1. the chains in nft -> nft. Checked first because reading one nft table is cheap and nft is
//     the common case;
//  2. the chains in legacy -> legacy. All tables are read there: "iptables-legacy-save -t mangle"
//     would make the kernel create the mangle table if it did not exist;
//  3. neither (kubelet has not run yet): whichever backend holds more rules, which is what some
//     other host component chose; ties, including no rules at all, go to nft.
func chooseMode(save saver) string {
	if count(save("iptables-nft-save", "-t", "mangle")+save("ip6tables-nft-save", "-t", "mangle"), isHint) > 0 {
		return "nft"
	}
	legacy := save("iptables-legacy-save") + save("ip6tables-legacy-save")
	if count(legacy, isHint) > 0 {
		return "legacy"
	}
	nft := save("iptables-nft-save") + save("ip6tables-nft-save")
	if count(legacy, isRule) > count(nft, isRule) {
		return "legacy"
	}
	return "nft"
}

func count(dump string, pred func(line string) bool) int {
	n := 0
	for more := true; more; {
		var line string
		line, dump, more = cut(dump, '\n')
		if pred(line) {
			n++
		}
	}
	return n
}

// isHint matches a chain declaration such as ":KUBE-IPTABLES-HINT - [0:0]".
func isHint(line string) bool {
	if line == "" || line[0] != ':' {
		return false
	}
	chain, _, _ := cut(line[1:], ' ')
	return chain == "KUBE-IPTABLES-HINT" || chain == "KUBE-KUBELET-CANARY"
}

// isRule matches a rule such as "-A INPUT -j ACCEPT".
func isRule(line string) bool { return line != "" && line[0] == '-' }

// cut is strings.Cut for a one-byte separator.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
