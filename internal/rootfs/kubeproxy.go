package rootfs

// iptablesCommands are both iptables backends; the wrapper picks the one the host uses.
var iptablesCommands = []string{
	"/usr/sbin/iptables-nft", "/usr/sbin/iptables-nft-save", "/usr/sbin/iptables-nft-restore",
	"/usr/sbin/ip6tables-nft", "/usr/sbin/ip6tables-nft-save", "/usr/sbin/ip6tables-nft-restore",
	"/usr/sbin/iptables-legacy", "/usr/sbin/iptables-legacy-save", "/usr/sbin/iptables-legacy-restore",
	"/usr/sbin/ip6tables-legacy", "/usr/sbin/ip6tables-legacy-save", "/usr/sbin/ip6tables-legacy-restore",
}

// KubeProxyUserland returns the spec of the kube-proxy image's userland: exactly what kube-proxy
// v1.37 executes (checked in k8s.io/kubernetes pkg/proxy and sigs.k8s.io/knftables):
//   - iptables mode: iptables, ip6tables and their -save/-restore (pkg/util/iptables), both
//     backends behind the mode selector, with the xtables extensions its rules use (statistic,
//     comment, mark, conntrack, …);
//   - nftables mode: nft (knftables runs the nft binary) and the libnftables it loads;
//   - ipvs mode: ipset (pkg/proxy/ipvs/ipset) and modprobe (ipvs cleanup runs `modprobe -va ip_vs`);
//     IPVS itself is programmed over netlink.
//
// Not included: the conntrack tool, since kube-proxy clears conntrack entries over netlink
// (pkg/proxy/conntrack) from 1.29 on, and CA certificates, since kube-proxy trusts only the
// cluster CA from its kubeconfig. Not Debian's modprobe: kmod links libcrypto (6.5 MB) to print
// module signatures; ckubelet's own Modprobe loads modules with what kube-proxy asks of it. Not
// Debian's nft either: its interactive mode links libedit, libtinfo, libbsd and libmd (0.19 MiB
// compressed); ckubelet's own Nft runs commands through the same libnftables.
func KubeProxyUserland(debArch string) Spec {
	a, _ := archFor(debArch)
	triplet := a.triplet
	spec := Spec{
		Arch: debArch,
		// Libraries come from the resolver following Depends.
		Packages: []string{"iptables", "libnftables1", "ipset", "netbase", "base-files"},
		Commands: append([]string{"/usr/sbin/ipset"}, iptablesCommands...),
		// Nft loads it with dlopen, so no DT_NEEDED brings it in.
		Files:    append([]string{"/usr/lib/" + triplet + "/libnftables.so.1"}, commonFiles(triplet)...),
		Symlinks: map[string]string{},
		Programs: []string{IptablesWrapper, Modprobe, Nft},
	}
	wrapIptables(&spec)
	return spec
}
