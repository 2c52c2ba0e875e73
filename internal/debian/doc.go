// Package debian is a Debian archive client whose every byte is verified.
//
// The chain of trust is the one apt uses: the suite's InRelease file must carry a valid
// OpenPGP signature by a key in a local keyring; InRelease lists the SHA256 and size of each
// Packages file; each Packages stanza lists the SHA256 and size of its .deb. Nothing fetched
// is used before its hash is checked, and the cache (internal/cache) re-checks files, and the
// trees unpacked from them, each time they are used.
//
// The typical flow:
//
//	c, err := debian.NewClient(debian.Source{Mirror: mirror}, cacheDir)
//	ix, err := c.Index(ctx, "arm64")
//	pkgs, err := ix.Resolve([]string{"mount", "iptables"}, debian.Exclude("debconf"))
//	for _, p := range pkgs {
//		dir, err := c.Extracted(ctx, p) // or deb, err := c.Fetch(ctx, p); debian.Extract(deb, dir)
//	}
//
// A [Lock] records a resolution so that later builds can detect that the archive moved.
package debian
