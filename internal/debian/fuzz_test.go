package debian

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ckubelet/ckubelet/internal/debian/debtest"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/.

// FuzzParsePackages checks that the Packages parser never panics and that what it accepts
// is consistent: stanzas parse back to the same package, relations format and parse back
// to themselves, and resolving any package terminates.
func FuzzParsePackages(f *testing.F) {
	f.Fuzz(func(t *testing.T, data string) {
		pkgs, err := parsePackages(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			again, err := parsePackages(p.Stanza)
			if err != nil || len(again) != 1 || again[0].Name != p.Name || again[0].Version != p.Version {
				t.Fatalf("stanza %q does not parse back to %s: %v", p.Stanza, p, err)
			}
			for _, groups := range [][][]Relation{p.Depends, p.PreDepends} {
				for _, alts := range groups {
					back, err := parseRelations(alternativesString(alts))
					if err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], alts) {
						t.Fatalf("relation %v formats as %q, which parses as %v, %v", alts, alternativesString(alts), back, err)
					}
				}
			}
		}
		ix := newIndex("trixie", "amd64", pkgs)
		for _, p := range pkgs {
			ix.Resolve([]string{p.Name})
		}
	})
}

// FuzzExtract feeds arbitrary data.tar content to Extract and checks that nothing is
// written outside the extraction directory, that no setuid or setgid file is written, that
// every path reported exists inside the directory, and that a failure leaves it empty.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, dataTar []byte) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		os.Mkdir(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "sentinel"), []byte("x"), 0o644)
		deb := filepath.Join(base, "t.deb")
		os.WriteFile(deb, debtest.Ar(
			debtest.ArMember{Name: "debian-binary", Data: []byte("2.0\n")},
			debtest.ArMember{Name: "data.tar", Data: dataTar},
		), 0o644)
		root := filepath.Join(base, "root")
		makeRemovable(t, root)

		written, err := Extract(deb, root)

		entries, _ := os.ReadDir(outside)
		if b, _ := os.ReadFile(filepath.Join(outside, "sentinel")); len(entries) != 1 || string(b) != "x" {
			t.Fatalf("Extract wrote outside its directory: %v", entries)
		}
		if err != nil {
			if rest, _ := os.ReadDir(root); len(rest) > 0 {
				t.Fatalf("failed Extract (%v) left %v", err, rest)
			}
			return
		}
		for _, w := range written {
			if !filepath.IsLocal(w) {
				t.Fatalf("Extract reports non-local path %q", w)
			}
			if _, err := os.Lstat(filepath.Join(root, w)); err != nil {
				t.Fatalf("reported path %q: %v", w, err)
			}
		}
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
				t.Fatalf("%s has mode %v", path, fi.Mode())
			}
			return nil
		})
	})
}
