package debian

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// SourceFile fetches one file of a source package (e.g. upstream's .orig.tar) of the suite: the
// component's Sources index is checked against InRelease like a Packages file, and the file
// against the SHA256 and size the index lists. It returns the cached file's path and the source
// package's version. suffix picks the file by the end of its name, e.g. ".orig.tar.bz2".
func (c *Client) SourceFile(ctx context.Context, pkg, suffix string) (file, version string, err error) {
	rel, err := c.getRelease(ctx)
	if err != nil {
		return "", "", err
	}
	for _, comp := range c.src.Components {
		var text string
		for _, ext := range []string{".xz", ".gz", ""} {
			name := comp + "/source/Sources" + ext
			sum, ok := rel.files[name]
			if !ok {
				continue
			}
			f, err := c.fetchBlob(ctx, "dists/"+c.src.Suite+"/"+name, c.src.Suite+"/"+name, sum.sha256, sum.size)
			if err != nil {
				return "", "", err
			}
			if text, err = decompressFile(f, name); err != nil {
				return "", "", fmt.Errorf("%s of %s: %w", name, c.src.Suite, err)
			}
			break
		}
		if text == "" {
			continue
		}
		var best paragraph
		for p, err := range paragraphs(text) {
			if err != nil {
				return "", "", fmt.Errorf("%s/source/Sources of %s: %w", comp, c.src.Suite, err)
			}
			if p.get("Package") == pkg && (best.get("Version") == "" || compareVersions(p.get("Version"), best.get("Version")) > 0) {
				best = p
			}
		}
		if best.get("Package") == "" {
			continue
		}
		for _, line := range strings.Split(best.get("Checksums-Sha256"), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 || !strings.HasSuffix(f[2], suffix) {
				continue
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || !validSHA256(f[0]) {
				return "", "", fmt.Errorf("source %s: bad Checksums-Sha256 line %q", pkg, line)
			}
			rel := path.Join(best.get("Directory"), f[2])
			file, err := c.fetchBlob(ctx, rel, f[2], f[0], size)
			return file, best.get("Version"), err
		}
		return "", "", fmt.Errorf("source %s %s has no file ending in %s", pkg, best.get("Version"), suffix)
	}
	return "", "", fmt.Errorf("no source package %s in %s", pkg, c.src.Suite)
}
