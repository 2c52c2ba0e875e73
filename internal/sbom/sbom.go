// Package sbom describes a platform image of ckubelet as an SPDX 2.3 JSON document and wraps that
// document in an OCI artifact whose subject is the image, so registries list it as a referrer.
package sbom

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DebianPackage is one Debian package files of the image came from.
type DebianPackage struct {
	Name, Version, Arch string
	SHA256              string // of the .deb
}

// Input is what SPDX describes: one platform image.
type Input struct {
	ImageName string // "kubelet:v1.37.2-trixie"
	Platform  string // "linux/arm/v7"
	// ImageDigest is the platform image's manifest digest; the document namespace derives from it,
	// so rebuilding the same image yields the same document.
	ImageDigest v1.Hash
	Created     time.Time // the build date, never the clock, so that the document is reproducible
	Distro      string    // Debian codename, "trixie"
	Debian      []DebianPackage
	Binaries    map[string]string // image path -> host path of a Go binary
	Programs    []Program
}

// Program is a binary ckubelet compiles from C source it carries (the iptables mode selector):
// it has no build info to read, so the SBOM names it, at ckubelet's version, with its SHA-256.
type Program struct {
	ImagePath, HostPath string
	Name, Version       string
}

// namespaceBase is under the reserved .invalid TLD: the namespace must be a unique URI, not a
// resolvable one, and publishing nothing there is honest.
const namespaceBase = "https://spdx.ckubelet.invalid/"

// debianVersions maps codenames to release numbers for the purl distro qualifier, which scanners
// (syft, grype, trivy) expect as "debian-<number>".
var debianVersions = map[string]string{
	"bullseye": "11",
	"bookworm": "12",
	"trixie":   "13",
	"forky":    "14",
	"duke":     "15",
}

const noAssertion = "NOASSERTION"

// SPDX 2.3 JSON. Structs rather than maps fix the field order, part of keeping bytes deterministic.
type document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      creationInfo   `json:"creationInfo"`
	Packages          []pkg          `json:"packages"`
	Relationships     []relationship `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type pkg struct {
	Name             string `json:"name"`
	SPDXID           string `json:"SPDXID"`
	VersionInfo      string `json:"versionInfo,omitempty"`
	PackageFileName  string `json:"packageFileName,omitempty"`
	Supplier         string `json:"supplier,omitempty"`
	DownloadLocation string `json:"downloadLocation"`
	// FilesAnalyzed defaults to true in SPDX; it is written out because no files are listed.
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	Checksums             []checksum    `json:"checksums,omitempty"`
	LicenseConcluded      string        `json:"licenseConcluded"`
	LicenseDeclared       string        `json:"licenseDeclared"`
	CopyrightText         string        `json:"copyrightText"`
	Comment               string        `json:"comment,omitempty"`
	ExternalRefs          []externalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose,omitempty"`
}

type checksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type externalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type relationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

func purlRef(p purl) []externalRef {
	return []externalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: p.String()}}
}

// newPkg fills the fields every package here shares: nothing is downloaded from a location we
// could vouch for, and licenses are not analysed.
func newPkg(name, id, version string) pkg {
	return pkg{
		Name:             name,
		SPDXID:           id,
		VersionInfo:      version,
		DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion,
		LicenseDeclared:  noAssertion,
		CopyrightText:    noAssertion,
	}
}

// SPDX returns the SPDX 2.3 JSON document of the image in. Equal inputs (and equal binaries) give
// equal bytes.
func SPDX(in Input) ([]byte, error) {
	if in.ImageName == "" {
		return nil, errors.New("sbom: no image name")
	}
	if in.ImageDigest.Algorithm == "" || in.ImageDigest.Hex == "" {
		return nil, errors.New("sbom: no image digest")
	}
	if in.Created.IsZero() {
		return nil, errors.New("sbom: no creation time")
	}
	plat, err := v1.ParsePlatform(in.Platform)
	if err != nil || plat.OS == "" || plat.Architecture == "" {
		return nil, fmt.Errorf("sbom: platform %q: want os/arch[/variant]", in.Platform)
	}

	ids := idSet{}
	doc := document{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              in.ImageName + " " + in.Platform,
		DocumentNamespace: namespace(in.ImageName, in.ImageDigest),
		CreationInfo: creationInfo{
			Created:  in.Created.UTC().Format("2006-01-02T15:04:05Z"),
			Creators: []string{"Tool: ckubelet"},
		},
	}
	ids.add("SPDXRef-DOCUMENT")

	image := imagePackage(in, plat, ids)
	doc.Packages = append(doc.Packages, image)
	rel := func(from, typ, to string) {
		doc.Relationships = append(doc.Relationships, relationship{from, typ, to})
	}
	rel(doc.SPDXID, "DESCRIBES", image.SPDXID)

	debs, err := debianPackages(in.Debian, in.Distro, ids)
	if err != nil {
		return nil, err
	}
	for _, p := range debs {
		doc.Packages = append(doc.Packages, p)
		rel(image.SPDXID, "CONTAINS", p.SPDXID)
	}

	for _, imagePath := range slices.Sorted(maps.Keys(in.Binaries)) {
		hostPath := in.Binaries[imagePath]
		bi, err := buildinfo.ReadFile(hostPath)
		if err != nil {
			return nil, fmt.Errorf("sbom: %s: Go build info: %w", imagePath, err)
		}
		sum, err := fileSHA256(hostPath)
		if err != nil {
			return nil, fmt.Errorf("sbom: %s: %w", imagePath, err)
		}
		main, deps := goPackages(imagePath, sum, bi, ids)
		doc.Packages = append(doc.Packages, main)
		rel(image.SPDXID, "CONTAINS", main.SPDXID)
		for _, d := range deps {
			doc.Packages = append(doc.Packages, d)
			rel(image.SPDXID, "CONTAINS", d.SPDXID)
			// Which binary links a module matters when it needs a fix; CONTAINS alone loses that.
			rel(main.SPDXID, "DEPENDS_ON", d.SPDXID)
		}
	}

	for _, prog := range slices.SortedFunc(slices.Values(in.Programs), func(a, b Program) int { return cmp.Compare(a.ImagePath, b.ImagePath) }) {
		sum, err := fileSHA256(prog.HostPath)
		if err != nil {
			return nil, fmt.Errorf("sbom: %s: %w", prog.ImagePath, err)
		}
		p := newPkg(prog.Name, ids.new("c", strings.Trim(prog.ImagePath, "/"), prog.Name), prog.Version)
		p.PackageFileName = prog.ImagePath
		p.PrimaryPackagePurpose = "APPLICATION"
		p.Checksums = []checksum{{"SHA256", sum}}
		p.Comment = "compiled by ckubelet from its own C source"
		p.ExternalRefs = purlRef(purl{typ: "generic", segments: []string{"ckubelet", prog.Name}, version: prog.Version})
		doc.Packages = append(doc.Packages, p)
		rel(image.SPDXID, "CONTAINS", p.SPDXID)
	}

	slices.SortFunc(doc.Relationships, func(a, b relationship) int {
		return cmp.Or(
			cmp.Compare(a.SPDXElementID, b.SPDXElementID),
			cmp.Compare(a.RelationshipType, b.RelationshipType),
			cmp.Compare(a.RelatedSPDXElement, b.RelatedSPDXElement),
		)
	})

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep '&' of purl qualifiers readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// namespace is unique per platform image because the manifest digest is, and stable across
// rebuilds of the same image for the same reason.
func namespace(imageName string, digest v1.Hash) string {
	segs := strings.Split(imageName, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return namespaceBase + strings.Join(segs, "/") + "/" + digest.String()
}

func imagePackage(in Input, plat *v1.Platform, ids idSet) pkg {
	repo, tag := splitImageName(in.ImageName)
	name := repo
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		name = repo[i+1:]
	}
	q := map[string]string{"arch": plat.Architecture, "tag": tag}
	if strings.Contains(repo, "/") {
		// A bare "kubelet" is no location; a qualified repository is.
		q["repository_url"] = repo
	}
	p := newPkg(in.ImageName, ids.new("Image"), in.ImageDigest.String())
	p.Comment = "platform " + in.Platform
	p.PrimaryPackagePurpose = "CONTAINER"
	p.ExternalRefs = purlRef(purl{
		typ:        "oci",
		segments:   []string{strings.ToLower(name)},
		version:    in.ImageDigest.String(),
		qualifiers: q,
	})
	return p
}

// splitImageName splits "registry/repo:tag" (or "repo@digest") into the repository and the tag.
func splitImageName(s string) (repo, tag string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		return s[:i], s[i+1:]
	}
	return s, ""
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func debianPackages(debs []DebianPackage, distro string, ids idSet) ([]pkg, error) {
	if len(debs) > 0 && distro == "" {
		return nil, errors.New("sbom: Debian packages without a distro")
	}
	if v, ok := debianVersions[distro]; ok {
		distro = "debian-" + v
	}
	sorted := slices.Clone(debs)
	slices.SortFunc(sorted, func(a, b DebianPackage) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
	})
	var out []pkg
	for i, d := range sorted {
		if d.Name == "" || d.Version == "" || d.Arch == "" {
			return nil, fmt.Errorf("sbom: Debian package %+v: name, version and arch are required", d)
		}
		if !sha256Hex.MatchString(d.SHA256) {
			return nil, fmt.Errorf("sbom: Debian package %s: SHA256 %q is not 64 lower-case hex digits", d.Name, d.SHA256)
		}
		// dpkg installs one version of a package per architecture; two mean a caller bug.
		if i > 0 && sorted[i-1].Name == d.Name && sorted[i-1].Arch == d.Arch {
			return nil, fmt.Errorf("sbom: Debian package %s:%s listed twice", d.Name, d.Arch)
		}
		p := newPkg(d.Name, ids.new("deb", d.Name, d.Version, d.Arch), d.Version)
		p.Supplier = "Organization: Debian"
		p.Checksums = []checksum{{"SHA256", d.SHA256}}
		p.ExternalRefs = purlRef(purl{
			typ:        "deb",
			segments:   []string{"debian", strings.ToLower(d.Name)},
			version:    d.Version,
			qualifiers: map[string]string{"arch": d.Arch, "distro": distro},
		})
		out = append(out, p)
	}
	return out, nil
}

// goPackages describes one Go binary: its main module, then the Go standard library and the
// dependency modules it links.
func goPackages(imagePath, binarySHA256 string, bi *debug.BuildInfo, ids idSet) (main pkg, deps []pkg) {
	where := strings.Trim(imagePath, "/")
	name := bi.Main.Path
	if name == "" {
		name = bi.Path // built outside a module, e.g. "command-line-arguments"
	}
	main = newPkg(name, ids.new("go", where, name), bi.Main.Version)
	main.PackageFileName = imagePath
	main.PrimaryPackagePurpose = "APPLICATION"
	main.Checksums = []checksum{{"SHA256", binarySHA256}}
	// Kubernetes built from a module zip reports "(devel)": kept as versionInfo, as reported, but a
	// purl version would claim a release that does not exist.
	main.ExternalRefs = purlRef(goPurl(name, releaseVersion(bi.Main.Version)))
	if s := settings(bi); s != "" {
		main.Comment = "go build settings: " + s
	}

	// Named and versioned as syft does, so scanners match Go vulnerabilities against it.
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")
	if strings.HasPrefix(bi.GoVersion, "devel") {
		goVersion = bi.GoVersion
	}
	std := newPkg("stdlib", ids.new("go", where, "stdlib"), goVersion)
	std.PrimaryPackagePurpose = "LIBRARY"
	var stdVersion string
	if isGoRelease(goVersion) {
		stdVersion = strings.TrimPrefix(goVersion, "go")
	}
	std.ExternalRefs = purlRef(goPurl("stdlib", stdVersion))
	if stdVersion != "" && strings.Trim(stdVersion, "0123456789.") == "" {
		std.ExternalRefs = append(std.ExternalRefs, externalRef{
			ReferenceCategory: "SECURITY",
			ReferenceType:     "cpe23Type",
			ReferenceLocator:  "cpe:2.3:a:golang:go:" + stdVersion + ":-:*:*:*:*:*:*",
		})
	}
	deps = append(deps, std)

	mods := slices.Clone(bi.Deps)
	slices.SortFunc(mods, func(a, b *debug.Module) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Version, b.Version))
	})
	for _, m := range mods {
		path, version, comment := m.Path, m.Version, ""
		if r := m.Replace; r != nil {
			if isDirectory(r.Path) {
				// A directory replacement has no module version (the go command reports "(devel)")
				// and its path is a file path, no module identity: the module keeps its own path
				// and loses its version.
				version = ""
				comment = "replaced by directory " + r.Path
			} else {
				path, version = r.Path, r.Version
				comment = "replaces " + m.Path + " " + m.Version
			}
		}
		d := newPkg(path, ids.new("go", where, path, version), version)
		d.PrimaryPackagePurpose = "LIBRARY"
		d.Comment = comment
		d.ExternalRefs = purlRef(goPurl(path, version))
		deps = append(deps, d)
	}
	return main, deps
}

// isDirectory tells a directory replacement from a module one, the way go.mod does: by the path.
func isDirectory(path string) bool {
	return path == "." || path == ".." || filepath.IsAbs(path) || strings.HasPrefix(path, "/") ||
		strings.HasPrefix(path, "./") || strings.HasPrefix(path, "../") ||
		strings.HasPrefix(path, `.\`) || strings.HasPrefix(path, `..\`)
}

func goPurl(path, version string) purl {
	return purl{typ: "golang", segments: strings.Split(path, "/"), version: version}
}

// releaseVersion drops the placeholders the go command reports when it knows no version.
func releaseVersion(v string) string {
	if v == "(devel)" {
		return ""
	}
	return v
}

var goRelease = regexp.MustCompile(`^go[0-9]+(\.[0-9]+)*([a-z]+[0-9]+)?$`)

func isGoRelease(v string) bool { return goRelease.MatchString(v) }

// settings renders the build settings that identify how a binary was built (flags, target);
// -ldflags carries Kubernetes' version stamp when the main module is "(devel)".
func settings(bi *debug.BuildInfo) string {
	var parts []string
	for _, s := range bi.Settings {
		if s.Key == "DefaultGODEBUG" {
			continue // long, and follows from the go version and go.mod
		}
		parts = append(parts, s.Key+"="+s.Value)
	}
	return strings.Join(parts, " ")
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// idSet hands out SPDXIDs that are valid (SPDXRef-[A-Za-z0-9.-]+) and unique: names and versions
// are sanitised, which can make two of them collide, and a collision gets a numeric suffix. IDs
// depend on the order of calls, which the callers keep sorted.
type idSet map[string]bool

func (s idSet) add(id string) { s[id] = true }

func (s idSet) new(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.Trim(sanitize(p), "-")
	}
	base := "SPDXRef-" + strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), "-")
	id := base
	for n := 2; s[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	s.add(id)
	return id
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
