// Package wrappers carries the source of the small programs ckubelet compiles into its images.
// They are embedded, not imported: ckubelet cross-compiles them for each target platform, and an
// installed ckubelet binary has no source tree to build them from.
package wrappers

import (
	"embed"
	"io/fs"
)

// The programs' module paths: where their source lives in ckubelet's repository. Their build
// info names them so, at ckubelet's version.
const (
	IptablesWrapperModule = "github.com/ckubelet/ckubelet/internal/wrappers/iptables-wrapper"
	CNIInstallModule      = "github.com/ckubelet/ckubelet/internal/wrappers/cni-install"
)

//go:embed iptables-wrapper/main.go iptables-wrapper/mode.go
var sources embed.FS

// IptablesWrapper is the source of the iptables mode selector (see iptables-wrapper/main.go):
// a standalone main package using only the standard library.
func IptablesWrapper() fs.FS {
	sub, err := fs.Sub(sources, "iptables-wrapper")
	if err != nil {
		panic(err) // the embedded directory is fixed at compile time
	}
	return sub
}

// A variable of its own, so that each accessor's file system holds only its program.
//
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
