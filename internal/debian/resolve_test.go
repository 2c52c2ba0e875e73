package debian

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testIndex builds an arm64 index of trixie from short stanzas; each gets the fields a
// Packages file always has.
func testIndex(t *testing.T, stanzas ...string) *Index {
	t.Helper()
	var b strings.Builder
	for i, s := range stanzas {
		if !strings.Contains(s, "Architecture:") {
			s += "\nArchitecture: arm64"
		}
		fmt.Fprintf(&b, "%s\nFilename: pool/main/x/x%d.deb\nSize: 1\nSHA256: %064x\n\n", s, i, i)
	}
	pkgs, err := parsePackages(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return newIndex("trixie", "arm64", pkgs)
}

func TestResolve(t *testing.T) {
	ix := testIndex(t,
		// A chain with Pre-Depends and versions.
		"Package: iptables\nVersion: 1.8.11-2\nPre-Depends: init-system-helpers (>= 1.54~)\nDepends: libxtables12 (= 1.8.11-2), libc6 (>= 2.38), netbase\nRecommends: nftables\nSuggests: kmod",
		"Package: init-system-helpers\nVersion: 1.68\nArchitecture: all\nDepends: perl-base (>= 5.20.1-3)",
		"Package: perl-base\nVersion: 5.40.1-6",
		"Package: libxtables12\nVersion: 1.8.11-2\nDepends: libc6 (>= 2.34)",
		"Package: libc6\nVersion: 2.41-12",
		"Package: libc6\nVersion: 2.36-9",
		"Package: netbase\nVersion: 6.5\nArchitecture: all",
		"Package: nftables\nVersion: 1.1.3-1",
		"Package: kmod\nVersion: 34.2-2",
		// Alternatives and virtual packages.
		"Package: tool\nVersion: 1\nDepends: awk, debconf (>= 0.5) | debconf-2.0, missing-pkg | netbase",
		"Package: mawk\nVersion: 1.3.4\nPriority: required\nProvides: awk",
		"Package: gawk\nVersion: 5.2\nPriority: optional\nProvides: awk",
		"Package: debconf\nVersion: 1.5.91\nArchitecture: all\nProvides: debconf-2.0",
		"Package: cdebconf\nVersion: 0.280\nProvides: debconf-2.0",
		"Package: prefers-gawk\nVersion: 1\nDepends: gawk, tool",
		// Versioned Provides.
		"Package: wants-libfoo\nVersion: 1\nDepends: libfoo (>= 2)",
		"Package: libfoo-compat\nVersion: 9\nProvides: libfoo (= 2.5)",
		"Package: libfoo-old\nVersion: 9\nProvides: libfoo (= 1.0)",
		"Package: wants-unversioned\nVersion: 1\nDepends: libbar (>= 1)",
		"Package: libbar-provider\nVersion: 1\nProvides: libbar",
		// Architecture qualifiers.
		"Package: qualified\nVersion: 1\nDepends: perl-base:any, netbase:native, libc6:arm64",
		"Package: foreign\nVersion: 1\nDepends: libc6:amd64",
		// Failures.
		"Package: broken\nVersion: 1\nDepends: broken-dep",
		"Package: broken-dep\nVersion: 1\nDepends: libc6 (>= 3)",
		"Package: needs-old-libc\nVersion: 1\nDepends: libc6 (<< 2.40), iptables",
	)
	names := func(pkgs []Package) string {
		var s []string
		for _, p := range pkgs {
			s = append(s, p.Name+"="+p.Version)
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		name    string
		req     []string
		opts    []ResolveOption
		want    string
		wantErr string
	}{
		{
			name: "transitive Depends and Pre-Depends, highest version, no Recommends",
			req:  []string{"iptables"},
			want: "init-system-helpers=1.68 iptables=1.8.11-2 libc6=2.41-12 libxtables12=1.8.11-2 netbase=6.5 perl-base=5.40.1-6",
		},
		{
			name: "exclude drops a package and what only it needs",
			req:  []string{"iptables"},
			opts: []ResolveOption{Exclude("init-system-helpers")},
			want: "iptables=1.8.11-2 libc6=2.41-12 libxtables12=1.8.11-2 netbase=6.5",
		},
		{
			name: "virtual by priority, first satisfiable alternative",
			req:  []string{"tool"},
			want: "debconf=1.5.91 mawk=1.3.4 netbase=6.5 tool=1",
		},
		{
			name: "an already selected provider wins",
			req:  []string{"prefers-gawk"},
			want: "debconf=1.5.91 gawk=5.2 netbase=6.5 prefers-gawk=1 tool=1",
		},
		{
			name: "excluding a real package satisfies its alternative group",
			req:  []string{"tool"},
			opts: []ResolveOption{Exclude("debconf")},
			want: "mawk=1.3.4 netbase=6.5 tool=1",
		},
		{
			name: "an excluded provider satisfies the virtual package",
			req:  []string{"tool"},
			opts: []ResolveOption{Exclude("mawk")},
			want: "debconf=1.5.91 netbase=6.5 tool=1",
		},
		{
			name: "versioned Provides",
			req:  []string{"wants-libfoo"},
			want: "libfoo-compat=9 wants-libfoo=1",
		},
		{
			name:    "unversioned Provides does not satisfy a versioned dependency",
			req:     []string{"wants-unversioned"},
			wantErr: "libbar (>= 1) needed by wants-unversioned: no package in trixie/arm64 provides it in a matching version",
		},
		{
			name: ":any, :native and the index's own arch",
			req:  []string{"qualified"},
			want: "libc6=2.41-12 netbase=6.5 perl-base=5.40.1-6 qualified=1",
		},
		{
			name:    "another architecture cannot be met",
			req:     []string{"foreign"},
			wantErr: `libc6:amd64 needed by foreign: architecture qualifier "amd64" cannot be met in trixie/arm64`,
		},
		{
			name: "version constraint on the request picks an older version",
			req:  []string{"libc6 (<< 2.40)"},
			want: "libc6=2.36-9",
		},
		{
			name: "alternatives in the request",
			req:  []string{"nonexistent | kmod"},
			want: "kmod=34.2-2",
		},
		{
			name:    "missing package",
			req:     []string{"nonexistent"},
			wantErr: "nonexistent: not in trixie/arm64",
		},
		{
			name:    "missing version names the chain",
			req:     []string{"broken"},
			wantErr: "libc6 (>= 3) needed by broken-dep <- broken: trixie/arm64 has libc6 2.41-12, 2.36-9",
		},
		{
			name:    "no backtracking over a selected version",
			req:     []string{"needs-old-libc"},
			wantErr: "libc6 (>= 2.38) needed by iptables <- needs-old-libc: conflicts with the selected libc6 2.36-9 needed by needs-old-libc",
		},
		{
			name:    "no alternative",
			req:     []string{"nonexistent | other"},
			wantErr: "nonexistent | other: no alternative is in trixie/arm64",
		},
		{
			name:    "bad request",
			req:     []string{"Bad Name"},
			wantErr: `resolve "Bad Name": bad package name`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ix.Resolve(tt.req, tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("got  %s\nwant %s", names(got), tt.want)
			}
		})
	}
}

func TestResolveIsDeterministic(t *testing.T) {
	ix := testIndex(t,
		"Package: a\nVersion: 1\nDepends: v",
		"Package: p2\nVersion: 1\nProvides: v",
		"Package: p1\nVersion: 1\nProvides: v",
	)
	for range 20 {
		got, err := ix.Resolve([]string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Name != "p1" {
			t.Fatalf("got %v, want a and p1 (first by name among equal priorities)", got)
		}
	}
}

func TestPackageFields(t *testing.T) {
	ix := testIndex(t, "Package: mount\nVersion: 2.41-5\nArchitecture: arm64\nEssential: yes\nMulti-Arch: foreign\nPre-Depends: libc6 (>= 2.38), libmount1 (= 2.41-5)\nProvides: mount-tool (= 1)")
	p, ok := ix.Lookup("mount")
	if !ok {
		t.Fatal("Lookup(mount) failed")
	}
	if p.Field("Multi-Arch") != "foreign" || p.Field("essential") != "yes" || p.Field("Nope") != "" {
		t.Errorf("Field: got %q, %q", p.Field("Multi-Arch"), p.Field("essential"))
	}
	if p.Filename != "pool/main/x/x0.deb" || p.Size != 1 || p.Architecture != "arm64" || !validSHA256(p.SHA256) {
		t.Errorf("parsed %+v", p)
	}
	wantPre := [][]Relation{{{Name: "libc6", Op: ">=", Version: "2.38"}}, {{Name: "libmount1", Op: "=", Version: "2.41-5"}}}
	if fmt.Sprint(p.PreDepends) != fmt.Sprint(wantPre) || fmt.Sprint(p.Provides) != "[mount-tool (= 1)]" {
		t.Errorf("PreDepends %v, Provides %v", p.PreDepends, p.Provides)
	}
	if !strings.HasPrefix(p.Stanza, "Package: mount\n") || !strings.HasSuffix(p.Stanza, "\n") || strings.Contains(p.Stanza, "\n\n") {
		t.Errorf("Stanza = %q", p.Stanza)
	}
	if ix.Len() != 1 || p.String() != "mount 2.41-5 (arm64)" {
		t.Errorf("Len %d, String %q", ix.Len(), p.String())
	}
	if _, ok := ix.Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
}

func TestParsePackagesErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"Version: 1\nArchitecture: all\n", "bad or missing Package"},
		{"Package: a\nArchitecture: all\n", "package a: bad version"},
		{"Package: a\nVersion: 1\n", "package a: no Architecture"},
		{"Package: a\nVersion: 1\nArchitecture: all\nSize: -1\n", "bad Size"},
		{"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>> )\n", "package a: Depends: bad version"},
		{"Package: a\nVersion: 1\nArchitecture: all\nPre-Depends: B\n", "package a: Pre-Depends"},
		{"Package: a\nVersion: 1\nArchitecture: all\nProvides: b (>= 1)\n", "only \"name\" or \"name (= version)\""},
		{"Package: a\nVersion: 1\nArchitecture: all\nProvides: b | c\n", "Provides"},
	}
	for _, tt := range tests {
		if _, err := parsePackages(tt.in); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parsePackages(%q) err = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestResolveSorted(t *testing.T) {
	ix := testIndex(t, "Package: z\nVersion: 1\nDepends: b, a", "Package: a\nVersion: 1", "Package: b\nVersion: 1")
	got, err := ix.Resolve([]string{"z"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(got, func(a, b Package) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("not sorted: %v", got)
	}
}
