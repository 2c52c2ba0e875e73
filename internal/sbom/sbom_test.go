package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ckubelet/ckubelet/internal/testenv"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildHello compiles a tiny program with one dependency module, replaced by a directory so that
// nothing is downloaded, and returns the binary's path.
func buildHello(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "no go command: %v", err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/hello\n\ngo 1.22\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ./dep\n",
		"main.go": `package main

import "example.com/dep"

func main() { println(dep.Hello()) }
`,
		"dep/go.mod": "module example.com/dep\n\ngo 1.22\n",
		"dep/dep.go": "package dep\n\nfunc Hello() string { return \"hello\" }\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command(goCmd, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	// No network, no toolchain switch, no workspace or flags of the caller's.
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOPROXY=off", "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

var (
	testDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	testDebs   = []DebianPackage{
		{Name: "login", Version: "1:4.16.0-2+b1", Arch: "armhf", SHA256: strings.Repeat("1", 64)},
		{Name: "libc6", Version: "2.41-12", Arch: "armhf", SHA256: strings.Repeat("2", 64)},
	}
)

func testInput(binary string) Input {
	return Input{
		ImageName:   "kubelet:v1.37.2-trixie",
		Platform:    "linux/arm/v7",
		ImageDigest: testDigest,
		Created:     time.Date(2026, 5, 4, 3, 2, 1, 0, time.FixedZone("CEST", 2*3600)),
		Distro:      "trixie",
		Debian:      slices.Clone(testDebs),
		Binaries:    map[string]string{"/usr/bin/hello": binary},
	}
}

// parsed is the part of the SPDX document the tests look at.
type parsed struct {
	SPDXVersion       string `json:"spdxVersion"`
	DataLicense       string `json:"dataLicense"`
	SPDXID            string `json:"SPDXID"`
	Name              string `json:"name"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		Name             string `json:"name"`
		SPDXID           string `json:"SPDXID"`
		VersionInfo      string `json:"versionInfo"`
		PackageFileName  string `json:"packageFileName"`
		Supplier         string `json:"supplier"`
		DownloadLocation string `json:"downloadLocation"`
		FilesAnalyzed    *bool  `json:"filesAnalyzed"`
		Checksums        []struct {
			Algorithm     string `json:"algorithm"`
			ChecksumValue string `json:"checksumValue"`
		} `json:"checksums"`
		LicenseConcluded string `json:"licenseConcluded"`
		LicenseDeclared  string `json:"licenseDeclared"`
		ExternalRefs     []struct {
			ReferenceCategory string `json:"referenceCategory"`
			ReferenceType     string `json:"referenceType"`
			ReferenceLocator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelationshipType   string `json:"relationshipType"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

func (d *parsed) purls() map[string]string { // purl -> SPDXID
	m := map[string]string{}
	for _, p := range d.Packages {
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				m[r.ReferenceLocator] = p.SPDXID
			}
		}
	}
	return m
}

func (d *parsed) relations() map[string]bool {
	m := map[string]bool{}
	for _, r := range d.Relationships {
		m[r.SPDXElementID+" "+r.RelationshipType+" "+r.RelatedSPDXElement] = true
	}
	return m
}

var validID = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)

func TestSPDX(t *testing.T) {
	bin := buildHello(t)
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")

	in := testInput(bin)
	out, err := SPDX(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc parsed
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}

	for _, c := range []struct{ field, got, want string }{
		{"spdxVersion", doc.SPDXVersion, "SPDX-2.3"},
		{"dataLicense", doc.DataLicense, "CC0-1.0"},
		{"SPDXID", doc.SPDXID, "SPDXRef-DOCUMENT"},
		{"documentNamespace", doc.DocumentNamespace, "https://spdx.ckubelet.invalid/kubelet:v1.37.2-trixie/sha256:" + testDigest.Hex},
		{"created", doc.CreationInfo.Created, "2026-05-04T01:02:01Z"},
		{"creators", strings.Join(doc.CreationInfo.Creators, ","), "Tool: ckubelet"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}

	purls := doc.purls()
	const (
		image = "SPDXRef-Image"
		main  = "SPDXRef-go-usr-bin-hello-example.com-hello"
		std   = "SPDXRef-go-usr-bin-hello-stdlib"
		dep   = "SPDXRef-go-usr-bin-hello-example.com-dep"
	)
	for _, c := range []struct{ purl, id string }{
		{"pkg:oci/kubelet@sha256%3A" + testDigest.Hex + "?arch=arm&tag=v1.37.2-trixie", image},
		{"pkg:deb/debian/libc6@2.41-12?arch=armhf&distro=debian-13", "SPDXRef-deb-libc6-2.41-12-armhf"},
		{"pkg:deb/debian/login@1:4.16.0-2%2Bb1?arch=armhf&distro=debian-13", "SPDXRef-deb-login-1-4.16.0-2-b1-armhf"},
		// (devel): no version invented.
		{"pkg:golang/example.com/hello", main},
		{"pkg:golang/stdlib@" + strings.TrimPrefix(goVersion, "go"), std},
		// A directory replacement: no module version exists.
		{"pkg:golang/example.com/dep", dep},
	} {
		if got, ok := purls[c.purl]; !ok {
			t.Errorf("no package with purl %s; have %v", c.purl, slices.Sorted(maps.Keys(purls)))
		} else if got != c.id {
			t.Errorf("purl %s on %s, want %s", c.purl, got, c.id)
		}
	}
	if len(purls) != 6 {
		t.Errorf("%d purls, want 6: %v", len(purls), purls)
	}

	rels := doc.relations()
	for _, want := range []string{
		"SPDXRef-DOCUMENT DESCRIBES " + image,
		image + " CONTAINS SPDXRef-deb-libc6-2.41-12-armhf",
		image + " CONTAINS SPDXRef-deb-login-1-4.16.0-2-b1-armhf",
		image + " CONTAINS " + main,
		image + " CONTAINS " + std,
		image + " CONTAINS " + dep,
		main + " DEPENDS_ON " + std,
		main + " DEPENDS_ON " + dep,
	} {
		if !rels[want] {
			t.Errorf("missing relationship %s", want)
		}
	}
	if len(rels) != 8 {
		t.Errorf("%d relationships, want 8: %v", len(rels), rels)
	}

	ids := map[string]bool{doc.SPDXID: true}
	for _, p := range doc.Packages {
		if !validID.MatchString(p.SPDXID) {
			t.Errorf("invalid SPDXID %q", p.SPDXID)
		}
		if ids[p.SPDXID] {
			t.Errorf("duplicate SPDXID %q", p.SPDXID)
		}
		ids[p.SPDXID] = true
		if p.DownloadLocation != "NOASSERTION" || p.LicenseConcluded != "NOASSERTION" || p.LicenseDeclared != "NOASSERTION" {
			t.Errorf("%s: downloadLocation/licenses %q %q %q, want NOASSERTION", p.SPDXID, p.DownloadLocation, p.LicenseConcluded, p.LicenseDeclared)
		}
		if p.FilesAnalyzed == nil || *p.FilesAnalyzed {
			t.Errorf("%s: filesAnalyzed must be written as false", p.SPDXID)
		}
		switch {
		case strings.HasPrefix(p.SPDXID, "SPDXRef-deb-"):
			if p.Supplier != "Organization: Debian" || len(p.Checksums) != 1 || p.Checksums[0].Algorithm != "SHA256" {
				t.Errorf("%s: supplier %q checksums %+v", p.SPDXID, p.Supplier, p.Checksums)
			}
		case p.SPDXID == main:
			if p.VersionInfo != "(devel)" || p.PackageFileName != "/usr/bin/hello" {
				t.Errorf("main module: versionInfo %q packageFileName %q, want (devel) /usr/bin/hello", p.VersionInfo, p.PackageFileName)
			}
		case p.SPDXID == std:
			if p.Name != "stdlib" || p.VersionInfo != goVersion {
				t.Errorf("stdlib package %q %q, want stdlib %s", p.Name, p.VersionInfo, goVersion)
			}
		}
	}
	for _, r := range doc.Relationships {
		if !ids[r.SPDXElementID] || !ids[r.RelatedSPDXElement] {
			t.Errorf("relationship %+v names an unknown element", r)
		}
	}

	// Deterministic: the same input gives the same bytes, whatever the order of the Debian
	// packages and wherever the binary sits on the host.
	again, err := SPDX(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("two runs on the same input differ")
	}
	moved := filepath.Join(t.TempDir(), "elsewhere")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, b, 0o755); err != nil {
		t.Fatal(err)
	}
	in2 := testInput(moved)
	slices.Reverse(in2.Debian)
	shuffled, err := SPDX(in2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, shuffled) {
		t.Error("reordered Debian packages or a moved binary change the document")
	}
}

func TestSPDXErrors(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := testInput("")
	base.Binaries = nil
	if _, err := SPDX(base); err != nil {
		t.Fatalf("the unmutated input fails: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Input)
	}{
		{"no image name", func(in *Input) { in.ImageName = "" }},
		{"no digest", func(in *Input) { in.ImageDigest = v1.Hash{} }},
		{"no creation time", func(in *Input) { in.Created = time.Time{} }},
		{"bad platform", func(in *Input) { in.Platform = "" }},
		{"no distro", func(in *Input) { in.Distro = "" }},
		{"bad deb checksum", func(in *Input) { in.Debian[0].SHA256 = "abc" }},
		{"deb without version", func(in *Input) { in.Debian[0].Version = "" }},
		{"deb listed twice", func(in *Input) { in.Debian = append(in.Debian, in.Debian[0]) }},
		{"not a Go binary", func(in *Input) { in.Binaries["/usr/sbin/iptables-wrapper"] = notGo }},
		{"missing binary", func(in *Input) { in.Binaries["/usr/bin/x"] = filepath.Join(t.TempDir(), "absent") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := testInput("")
			in.Binaries = map[string]string{}
			c.mutate(&in)
			if _, err := SPDX(in); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestDistroQualifier(t *testing.T) {
	for _, c := range []struct{ codename, want string }{
		{"bookworm", "debian-12"},
		{"trixie", "debian-13"},
		{"forky", "debian-14"},
		{"sid", "sid"}, // unknown: the codename as is
	} {
		t.Run(c.codename, func(t *testing.T) {
			pkgs, err := debianPackages(testDebs[1:], c.codename, idSet{})
			if err != nil {
				t.Fatal(err)
			}
			want := "pkg:deb/debian/libc6@2.41-12?arch=armhf&distro=" + c.want
			if got := pkgs[0].ExternalRefs[0].ReferenceLocator; got != want {
				t.Errorf("purl %s, want %s", got, want)
			}
		})
	}
}

func TestGoPackages(t *testing.T) {
	mod := func(path, version string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: path, Version: version, Replace: replace}
	}
	type want struct{ name, version, purl, comment string }
	for _, c := range []struct {
		name string
		bi   debug.BuildInfo
		want []want // main, stdlib, then dependencies sorted by path
	}{
		{
			name: "kubernetes from a module zip",
			bi: debug.BuildInfo{
				GoVersion: "go1.26.8",
				Main:      debug.Module{Path: "k8s.io/kubernetes", Version: "(devel)"},
				Deps: []*debug.Module{
					mod("k8s.io/client-go", "v0.0.0", mod("k8s.io/client-go", "v0.37.2", nil)),
					mod("github.com/Azure/go-ansiterm", "v0.0.0-20230124172434-306776ec8161", nil),
					mod("github.com/x/y", "v2.0.0+incompatible", nil),
				},
				Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "GOARCH", Value: "arm"}},
			},
			want: []want{
				{"k8s.io/kubernetes", "(devel)", "pkg:golang/k8s.io/kubernetes", "go build settings: -trimpath=true GOARCH=arm"},
				{"stdlib", "go1.26.8", "pkg:golang/stdlib@1.26.8", ""},
				{"github.com/Azure/go-ansiterm", "v0.0.0-20230124172434-306776ec8161", "pkg:golang/github.com/Azure/go-ansiterm@v0.0.0-20230124172434-306776ec8161", ""},
				{"github.com/x/y", "v2.0.0+incompatible", "pkg:golang/github.com/x/y@v2.0.0%2Bincompatible", ""},
				{"k8s.io/client-go", "v0.37.2", "pkg:golang/k8s.io/client-go@v0.37.2", "replaces k8s.io/client-go v0.0.0"},
			},
		},
		{
			name: "released main module, replaced by a fork, experiment in go version",
			bi: debug.BuildInfo{
				GoVersion: "go1.26.8 X:jsonv2",
				Main:      debug.Module{Path: "example.com/wrapper", Version: "v1.2.3"},
				Deps: []*debug.Module{
					mod("example.com/a", "v1.0.0", mod("example.com/fork", "v1.0.1", nil)),
					mod("example.com/b", "v1.0.0", mod("../b", "(devel)", nil)),
					mod("example.com/c", "v1.0.0", mod("/src/c", "", nil)),
				},
			},
			want: []want{
				{"example.com/wrapper", "v1.2.3", "pkg:golang/example.com/wrapper@v1.2.3", ""},
				{"stdlib", "go1.26.8", "pkg:golang/stdlib@1.26.8", ""},
				{"example.com/fork", "v1.0.1", "pkg:golang/example.com/fork@v1.0.1", "replaces example.com/a v1.0.0"},
				{"example.com/b", "", "pkg:golang/example.com/b", "replaced by directory ../b"},
				{"example.com/c", "", "pkg:golang/example.com/c", "replaced by directory /src/c"},
			},
		},
		{
			name: "development toolchain",
			bi: debug.BuildInfo{
				GoVersion: "devel go1.27-abcdef Tue Jan 1 00:00:00 2026 +0000",
				Main:      debug.Module{Path: "example.com/m", Version: "v0.1.0"},
			},
			want: []want{
				{"example.com/m", "v0.1.0", "pkg:golang/example.com/m@v0.1.0", ""},
				{"stdlib", "devel go1.27-abcdef Tue Jan 1 00:00:00 2026 +0000", "pkg:golang/stdlib", ""},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			main, deps := goPackages("/usr/bin/x", strings.Repeat("0", 64), &c.bi, idSet{})
			got := append([]pkg{main}, deps...)
			if len(got) != len(c.want) {
				t.Fatalf("%d packages, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.Name != w.name || g.VersionInfo != w.version || g.ExternalRefs[0].ReferenceLocator != w.purl || g.Comment != w.comment {
					t.Errorf("package %d = %q %q %q %q\n                want %q %q %q %q",
						i, g.Name, g.VersionInfo, g.ExternalRefs[0].ReferenceLocator, g.Comment, w.name, w.version, w.purl, w.comment)
				}
				if !validID.MatchString(g.SPDXID) {
					t.Errorf("invalid SPDXID %q", g.SPDXID)
				}
			}
		})
	}
}

func TestStdlibCPE(t *testing.T) {
	_, deps := goPackages("/x", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "m"}}, idSet{})
	refs := deps[0].ExternalRefs
	if len(refs) != 2 || refs[1].ReferenceLocator != "cpe:2.3:a:golang:go:1.26.8:-:*:*:*:*:*:*" {
		t.Errorf("stdlib refs %+v, want a purl and the golang:go CPE", refs)
	}
}

func TestIDSet(t *testing.T) {
	s := idSet{}
	var got []string
	for _, parts := range [][]string{
		{"deb", "login", "1:4.16.0-2+b1", "armhf"},
		{"deb", "login", "1-4.16.0-2-b1", "armhf"}, // sanitises to the same ID
		{"deb", "login", "1:4.16.0-2~b1", "armhf"}, // and again
		{"go", "usr/bin/kubelet", "k8s.io/api", "v0.37.2"},
		{"go", "", "stdlib"},
	} {
		got = append(got, s.new(parts...))
	}
	want := []string{
		"SPDXRef-deb-login-1-4.16.0-2-b1-armhf",
		"SPDXRef-deb-login-1-4.16.0-2-b1-armhf-2",
		"SPDXRef-deb-login-1-4.16.0-2-b1-armhf-3",
		"SPDXRef-go-usr-bin-kubelet-k8s.io-api-v0.37.2",
		"SPDXRef-go-stdlib",
	}
	if !slices.Equal(got, want) {
		t.Errorf("IDs\n%q\nwant\n%q", got, want)
	}
}

func TestPurl(t *testing.T) {
	for _, c := range []struct {
		p    purl
		want string
	}{
		{purl{typ: "deb", segments: []string{"debian", "attr"}, version: "1:2.4.47-2+b1", qualifiers: map[string]string{"distro": "debian-13", "arch": "amd64"}},
			"pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64&distro=debian-13"},
		{purl{typ: "oci", segments: []string{"kubelet"}, version: "sha256:abc", qualifiers: map[string]string{"tag": "v1", "repository_url": "ghcr.io/x/kubelet", "arch": ""}},
			"pkg:oci/kubelet@sha256%3Aabc?repository_url=ghcr.io/x/kubelet&tag=v1"},
		{purl{typ: "golang", segments: []string{"example.com", "a b"}},
			"pkg:golang/example.com/a%20b"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("purl %s, want %s", got, c.want)
		}
	}
}

func TestImagePurlRepository(t *testing.T) {
	in := testInput("")
	in.ImageName = "ghcr.io/ckubelet/kubelet:v1.37.2-trixie"
	plat, _ := v1.ParsePlatform(in.Platform)
	p := imagePackage(in, plat, idSet{})
	want := "pkg:oci/kubelet@sha256%3A" + testDigest.Hex + "?arch=arm&repository_url=ghcr.io/ckubelet/kubelet&tag=v1.37.2-trixie"
	if got := p.ExternalRefs[0].ReferenceLocator; got != want {
		t.Errorf("purl %s, want %s", got, want)
	}
	if got, want := namespace(in.ImageName, testDigest), "https://spdx.ckubelet.invalid/ghcr.io/ckubelet/kubelet:v1.37.2-trixie/sha256:"+testDigest.Hex; got != want {
		t.Errorf("namespace %s, want %s", got, want)
	}
}

// TestPrograms checks a C program ckubelet compiles is listed with its version, file and
// SHA-256, contained in the image; and that a missing one is an error.
func TestPrograms(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "iptables-wrapper")
	if err := os.WriteFile(prog, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := testInput("")
	in.Binaries = nil
	in.Programs = []Program{{ImagePath: "/usr/sbin/iptables-wrapper", HostPath: prog, Name: "iptables-wrapper", Version: "v0.2.0-dev"}}
	data, err := SPDX(in)
	if err != nil {
		t.Fatal(err)
	}
	var d parsed
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	id, ok := d.purls()["pkg:generic/ckubelet/iptables-wrapper@v0.2.0-dev"]
	if !ok {
		t.Fatalf("no purl for the program in %v", d.purls())
	}
	sum := sha256.Sum256([]byte("\x7fELF not really"))
	for _, p := range d.Packages {
		if p.SPDXID == id && (p.PackageFileName != "/usr/sbin/iptables-wrapper" || p.VersionInfo != "v0.2.0-dev" ||
			len(p.Checksums) != 1 || p.Checksums[0].ChecksumValue != hex.EncodeToString(sum[:])) {
			t.Errorf("program package %+v", p)
		}
	}
	if !d.relations()[d.Packages[0].SPDXID+" CONTAINS "+id] {
		t.Errorf("the image does not contain %s: %v", id, d.relations())
	}
	in.Programs[0].HostPath = filepath.Join(t.TempDir(), "absent")
	if _, err := SPDX(in); err == nil || !strings.Contains(err.Error(), "/usr/sbin/iptables-wrapper") {
		t.Errorf("missing program: %v", err)
	}
}
