package rootfs

import "fmt"

// ckubelet's own programs in the userlands (internal/wrappers), named in Spec.Programs; the
// caller sets Spec.Extra to the binaries built for the image's platform.
const (
	IptablesWrapper = "/usr/sbin/iptables-wrapper" // the iptables mode selector
	Modprobe        = "/usr/sbin/modprobe"         // loads kernel modules (kube-proxy's ipvs mode)
	Nft             = "/usr/sbin/nft"              // nft's command line over libnftables (kube-proxy's nftables mode)
)

// kubeletCommands are what kubelet runs on a node (kubernetes/mount-utils, pkg/volume,
// pkg/util/iptables), by the Debian trixie package that ships them.
var kubeletCommands = []struct {
	pkg   string
	paths []string
}{
	{"mount", []string{"/usr/bin/mount", "/usr/bin/umount", "/usr/sbin/losetup"}},
	// Not findmnt: current kubelets no longer run it, and it alone needs libudev and libcap
	// (0.14 MB at zstd -19 on amd64).
	{"util-linux", []string{"/usr/sbin/blkid", "/usr/sbin/fsck", "/usr/sbin/blockdev"}},
	// mkfs.<fs> and fsck -a (which runs fsck.<fs>) for every ext flavour kubelet formats or checks.
	{"e2fsprogs", []string{
		"/usr/sbin/mkfs.ext2", "/usr/sbin/mkfs.ext3", "/usr/sbin/mkfs.ext4",
		"/usr/sbin/fsck.ext2", "/usr/sbin/fsck.ext3", "/usr/sbin/fsck.ext4", "/usr/sbin/resize2fs",
	}},
	{"xfsprogs", []string{"/usr/sbin/mkfs.xfs", "/usr/sbin/xfs_growfs"}},
	{"iptables", iptablesCommands},
}

// wrappedIptables are the names kubelet and kube-proxy run that the image points at IptablesWrapper.
var wrappedIptables = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// NotShipped are dependencies that only maintainer scripts, or tools the images leave out, use
// (xfs_scrub's ICU, util-linux's PAM and sqlite users, …). Following them would download tens of
// megabytes whose files are never selected; a library the selected files do need and that was
// excluded here makes Build fail, naming it. The resolver leaves them out (debian.Exclude).
var NotShipped = []string{
	"debconf", "perl-base", "python3", "openssl",
	"libicu76", "libglib2.0-0t64", "libsqlite3-0", "libdb5.3t64", "libstdc++6",
	"libpam-runtime", "libpam-modules", "libpam-modules-bin", "libpam0g", "libsystemd0",
}

// kubeletPackages are the trixie packages KubeletUserland takes files from: the command providers
// above, their shared libraries, and the data packages. Naming the libraries too keeps the list
// complete for a resolver that does not follow Depends; one that does adds packages whose files
// Build then leaves out.
var kubeletPackages = []string{
	"mount", "util-linux", "e2fsprogs", "xfsprogs", "iptables",
	"ca-certificates", // /usr/share/ca-certificates, bundled by Build
	"netbase",         // /etc/protocols and /etc/services, which iptables and Go's net package read
	"base-files",      // /etc/os-release and /etc/debian_version, how scanners tell the distribution
	// Libraries, as the ELF closure of the commands needs them on trixie (all three architectures).
	"libc6",
	"libblkid1", "libmount1", "libsmartcols1", "libuuid1", "libselinux1", "libpcre2-8-0",
	"libext2fs2t64", "libcom-err2", "libinih1", "liburcu8t64",
	"libxtables12", "libip4tc2", "libip6tc2", "libnftnl11", "libmnl0", "libnetfilter-conntrack3", "libnfnetlink0",
}

// KubeletUserland returns the spec of the kubelet image's userland for a Debian architecture
// (amd64, arm64, armhf, …).
//
// Left out on purpose:
//   - mount.nfs (nfs-common): it depends on rpcbind, libtirpc, Kerberos/GSSAPI, libevent,
//     keyutils and libnfsidmap, and NFSv3 locking needs rpc.statd running, which nothing in a
//     kubelet container starts. NFS users are better served by an NFS CSI driver, which ships its
//     own mount.nfs; a cluster using in-tree NFS volumes can add nfs-common and
//     /usr/sbin/mount.nfs to the spec.
//   - iscsiadm (open-iscsi): useless without the host's iscsid; same remedy.
//   - journalctl (systemd): only for node log queries, and it drags in systemd's libraries.
//   - btrfs-progs: kubelet only needs it to resize btrfs volumes.
func KubeletUserland(debArch string) Spec {
	a, _ := archFor(debArch)
	triplet := a.triplet
	spec := Spec{
		Arch:     debArch,
		Packages: append([]string(nil), kubeletPackages...),
		Files: append([]string{
			"/etc/mke2fs.conf", // mke2fs's built-in defaults differ from Debian's
		}, commonFiles(triplet)...),
		Symlinks:       map[string]string{},
		CACertificates: true,
		Programs:       []string{IptablesWrapper},
	}
	for _, c := range kubeletCommands {
		spec.Commands = append(spec.Commands, c.paths...)
	}
	wrapIptables(&spec)
	return spec
}

// commonFiles are the data files every userland takes: iptables' extension modules, the network
// databases, and what tells scanners the distribution.
func commonFiles(triplet string) []string {
	return []string{
		// iptables loads its match and target extensions with dlopen; libarpt_ and libebt_
		// serve arptables and ebtables, which the images do not ship.
		fmt.Sprintf("/usr/lib/%s/xtables/libxt_*.so", triplet),
		fmt.Sprintf("/usr/lib/%s/xtables/libipt_*.so", triplet),
		fmt.Sprintf("/usr/lib/%s/xtables/libip6t_*.so", triplet),
		"/etc/protocols", "/etc/services",
		"/etc/os-release", "/etc/debian_version",
	}
}

// wrapIptables points the iptables names at the mode selector.
func wrapIptables(spec *Spec) {
	for _, name := range wrappedIptables {
		spec.Symlinks["/usr/sbin/"+name] = "iptables-wrapper"
	}
}

// providerHint names the package to add when a known command is missing.
func providerHint(command string) string {
	for _, c := range kubeletCommands {
		for _, p := range c.paths {
			if canon(p) == canon(command) {
				return fmt.Sprintf(" (add %s to Packages)", c.pkg)
			}
		}
	}
	return ""
}
