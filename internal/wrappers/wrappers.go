// Package wrappers carries the source of the small programs ckubelet compiles into its images.
// They are embedded, not imported: ckubelet cross-compiles them for each target platform, and an
// installed ckubelet binary has no source tree to build them from.
package wrappers

import (
	"embed"
	"io/fs"
	"slices"

	"github.com/ckubelet/ckubelet/internal/cbuild"
)

// CNIInstallModule is the CNI installer's module path: where its source lives in ckubelet's
// repository. Its build info names it so, at ckubelet's version.
const CNIInstallModule = "github.com/ckubelet/ckubelet/internal/wrappers/cni-install"

//go:embed iptables-wrapper/iptables-wrapper.c
var iptablesWrapperC []byte

//go:embed modprobe/modprobe.c
var modprobeC []byte

//go:embed nft/nft.c
var nftC []byte

// cflags are the C programs' compiler flags.
var cflags = []string{"-Os", "-Wall", "-Wextra", "-Werror"}

// IptablesWrapper is the iptables mode selector (see iptables-wrapper/iptables-wrapper.c), which
// ships in every image: C linked against the image's libc, a few kilobytes where a Go program
// needs its own runtime (1.2 MB).
func IptablesWrapper() cbuild.Program {
	return cbuild.Program{Name: "iptables-wrapper", Source: iptablesWrapperC, Flags: cflags}
}

// Modprobe is kube-proxy's modprobe (see modprobe/modprobe.c): kernel modules with their
// dependencies through finit_module(2), without Debian kmod's libcrypto.
func Modprobe() cbuild.Program {
	return cbuild.Program{Name: "modprobe", Source: modprobeC, Flags: cflags}
}

// Nft is kube-proxy's nft (see nft/nft.c): nft's command line over the image's libnftables,
// without the interactive mode whose libraries weigh 0.19 MiB compressed. nftablesVersion is the
// release of that libnftables, which `nft --version` reports.
func Nft(nftablesVersion string) cbuild.Program {
	return cbuild.Program{Name: "nft", Source: nftC, Flags: append(slices.Clone(cflags), `-DNFTABLES_VERSION="`+nftablesVersion+`"`)}
}

//go:embed cni-install/main.go cni-install/install.go
var cniInstallSources embed.FS

// CNIInstall is the source of the CNI flavors' entrypoint (see cni-install/main.go), which copies
// the image's CNI plugins onto the host and execs kubelet: a standalone main package using only
// the standard library.
func CNIInstall() fs.FS {
	sub, err := fs.Sub(cniInstallSources, "cni-install")
	if err != nil {
		panic(err) // the embedded directory is fixed at compile time
	}
	return sub
}
