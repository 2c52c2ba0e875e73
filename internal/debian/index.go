package debian

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"pault.ag/go/debian/version"
)

// Package is one binary package of a Packages index.
type Package struct {
	Name    string
	Version string
	// Architecture is the index's architecture or "all".
	Architecture string
	// Filename is the path of the .deb relative to the mirror, e.g.
	// "pool/main/i/iptables/iptables_1.8.11-2_arm64.deb".
	Filename string
	SHA256   string
	Size     int64
	// Stanza is the package's control stanza exactly as in Packages, newline-terminated;
	// it is what dpkg keeps in /var/lib/dpkg/status.d.
	Stanza string

	// Depends and PreDepends hold one element per comma-separated requirement, each
	// satisfied by any one of its alternatives.
	Depends    [][]Relation
	PreDepends [][]Relation
	// Provides lists virtual packages; Op is "=" for a versioned Provides, else "".
	Provides []Relation
}

// Field returns the value of a field of the package's stanza, such as "Essential" or
// "Multi-Arch", or "" if the stanza lacks it.
func (p Package) Field(name string) string {
	for para, err := range paragraphs(p.Stanza) {
		if err != nil {
			return ""
		}
		return para.get(name)
	}
	return ""
}

// String returns "name version (arch)".
func (p Package) String() string {
	return fmt.Sprintf("%s %s (%s)", p.Name, p.Version, p.Architecture)
}

// Index is the verified Packages index of one suite and architecture.
type Index struct {
	Suite string
	Arch  string

	// byName holds each package name's candidates, highest version first.
	byName map[string][]*Package
	// providers maps a virtual package name to the packages that provide it.
	providers map[string][]provider
}

type provider struct {
	pkg *Package
	// version is the provided version, "" for an unversioned Provides.
	version string
}

// Lookup returns the highest version of the named package.
func (ix *Index) Lookup(name string) (Package, bool) {
	if c := ix.byName[name]; len(c) > 0 {
		return *c[0], true
	}
	return Package{}, false
}

// Len returns the number of packages in the index.
func (ix *Index) Len() int {
	n := 0
	for _, c := range ix.byName {
		n += len(c)
	}
	return n
}

func newIndex(suite, arch string, pkgs []*Package) *Index {
	ix := &Index{
		Suite:     suite,
		Arch:      arch,
		byName:    make(map[string][]*Package, len(pkgs)),
		providers: make(map[string][]provider),
	}
	for _, p := range pkgs {
		ix.byName[p.Name] = append(ix.byName[p.Name], p)
		for _, v := range p.Provides {
			ix.providers[v.Name] = append(ix.providers[v.Name], provider{p, v.Version})
		}
	}
	for _, c := range ix.byName {
		slices.SortStableFunc(c, func(a, b *Package) int { return compareVersions(b.Version, a.Version) })
	}
	return ix
}

// compareVersions orders two versions that parsePackages has validated.
func compareVersions(a, b string) int {
	va, _ := version.Parse(a)
	vb, _ := version.Parse(b)
	return cmp.Compare(version.Compare(va, vb), 0)
}

// parsePackages parses the text of a Packages file.
func parsePackages(data string) ([]*Package, error) {
	var pkgs []*Package
	for para, err := range paragraphs(data) {
		if err != nil {
			return nil, err
		}
		p, err := packageFromStanza(para)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func packageFromStanza(para paragraph) (*Package, error) {
	p := &Package{
		Name:         para.get("Package"),
		Version:      para.get("Version"),
		Architecture: para.get("Architecture"),
		Filename:     para.get("Filename"),
		SHA256:       para.get("SHA256"),
		Stanza:       para.raw,
	}
	if !validName(p.Name) {
		return nil, fmt.Errorf("stanza with bad or missing Package field %q", truncate(p.Name, 60))
	}
	if _, err := version.Parse(p.Version); err != nil {
		return nil, fmt.Errorf("package %s: bad version %q: %v", p.Name, p.Version, err)
	}
	if p.Architecture == "" {
		return nil, fmt.Errorf("package %s: no Architecture field", p.Name)
	}
	if s := para.get("Size"); s != "" {
		size, err := strconv.ParseInt(s, 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("package %s: bad Size %q", p.Name, s)
		}
		p.Size = size
	}
	var err error
	if p.Depends, err = parseRelations(para.get("Depends")); err != nil {
		return nil, fmt.Errorf("package %s: Depends: %w", p.Name, err)
	}
	if p.PreDepends, err = parseRelations(para.get("Pre-Depends")); err != nil {
		return nil, fmt.Errorf("package %s: Pre-Depends: %w", p.Name, err)
	}
	provides, err := parseRelations(para.get("Provides"))
	if err != nil {
		return nil, fmt.Errorf("package %s: Provides: %w", p.Name, err)
	}
	for _, alts := range provides {
		if len(alts) != 1 || (alts[0].Op != "" && alts[0].Op != "=") {
			return nil, fmt.Errorf("package %s: Provides %q: only \"name\" or \"name (= version)\" is allowed", p.Name, alternativesString(alts))
		}
		p.Provides = append(p.Provides, alts[0])
	}
	return p, nil
}

// UpstreamVersion is the upstream part of the version of the package named name among pkgs
// ("1.1.3" for 1.1.3-1): the release a program built against it reports.
func UpstreamVersion(pkgs []Package, name string) (string, error) {
	for _, p := range pkgs {
		if p.Name == name {
			v, err := version.Parse(p.Version)
			if err != nil {
				return "", fmt.Errorf("package %s: bad version %q: %v", name, p.Version, err)
			}
			return v.Version, nil
		}
	}
	return "", fmt.Errorf("package %s was not resolved", name)
}
