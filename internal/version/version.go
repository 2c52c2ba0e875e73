// Package version is ckubelet's own version. It is stamped into the helper programs ckubelet
// compiles into its images (the CNI installer, the iptables mode selector), whose build info
// then names them at this version, so that an image's SBOM and a scanner can tell them apart.
package version

// Version is ckubelet's release: bumped with every release; between releases it names the next
// one as a pre-release.
const Version = "v0.2.0-dev"
