package debian

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// lockFormat names the lock file format and its version.
const lockFormat = "ckubelet-debian-lock/1"

// Lock records the packages resolved for one or more architectures, so that a later
// build can tell whether the archive has moved.
//
// The file is deb822 text, like Debian's own indexes: a header stanza, then one stanza
// per package, sorted by Arch and then Package, with fields in a fixed order:
//
//	# Debian packages resolved by ckubelet; regenerate rather than edit.
//	Format: ckubelet-debian-lock/1
//	Suite: trixie
//
//	Arch: arm64
//	Package: iptables
//	Version: 1.8.11-2
//	Architecture: arm64
//	Filename: pool/main/i/iptables/iptables_1.8.11-2_arm64.deb
//	Size: 359080
//	SHA256: 0f1e…
//
// Arch is the architecture the package was resolved for; Architecture is the package's
// own, which is "all" for architecture-independent packages.
type Lock struct {
	Suite    string
	Packages []LockedPackage
}

// LockedPackage is one package of a Lock.
type LockedPackage struct {
	Arch         string
	Name         string
	Version      string
	Architecture string
	Filename     string
	Size         int64
	SHA256       string
}

// NewLock returns an empty lock for suite.
func NewLock(suite string) *Lock { return &Lock{Suite: suite} }

// Set records pkgs as the resolution for arch, replacing any earlier one.
func (l *Lock) Set(arch string, pkgs []Package) {
	l.Packages = slices.DeleteFunc(l.Packages, func(p LockedPackage) bool { return p.Arch == arch })
	for _, p := range pkgs {
		l.Packages = append(l.Packages, locked(arch, p))
	}
	l.sort()
}

func locked(arch string, p Package) LockedPackage {
	return LockedPackage{
		Arch:         arch,
		Name:         p.Name,
		Version:      p.Version,
		Architecture: p.Architecture,
		Filename:     p.Filename,
		Size:         p.Size,
		SHA256:       p.SHA256,
	}
}

func (l *Lock) sort() {
	slices.SortFunc(l.Packages, func(a, b LockedPackage) int {
		return cmp.Or(strings.Compare(a.Arch, b.Arch), strings.Compare(a.Name, b.Name))
	})
}

// Write writes the lock in its file format.
func (l *Lock) Write(w io.Writer) error {
	l.sort()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# Debian packages resolved by ckubelet; regenerate rather than edit.\n")
	fmt.Fprintf(bw, "Format: %s\nSuite: %s\n", lockFormat, l.Suite)
	for _, p := range l.Packages {
		fields := [][2]string{
			{"Arch", p.Arch},
			{"Package", p.Name},
			{"Version", p.Version},
			{"Architecture", p.Architecture},
			{"Filename", p.Filename},
			{"Size", strconv.FormatInt(p.Size, 10)},
			{"SHA256", p.SHA256},
		}
		bw.WriteString("\n")
		for _, f := range fields {
			if f[1] == "" || strings.ContainsAny(f[1], "\n\r") || strings.TrimSpace(f[1]) != f[1] {
				return fmt.Errorf("write lock: package %s (%s): bad %s %q", p.Name, p.Arch, f[0], f[1])
			}
			fmt.Fprintf(bw, "%s: %s\n", f[0], f[1])
		}
	}
	return bw.Flush()
}

// ReadLock reads a lock written by Write.
func ReadLock(r io.Reader) (*Lock, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	var l *Lock
	seen := map[[2]string]bool{}
	for para, err := range paragraphs(string(data)) {
		if err != nil {
			return nil, fmt.Errorf("read lock: %w", err)
		}
		if l == nil {
			if f := para.get("Format"); f != lockFormat {
				return nil, fmt.Errorf("read lock: format %q, want %q; regenerate the lock file", f, lockFormat)
			}
			l = &Lock{Suite: para.get("Suite")}
			continue
		}
		p := LockedPackage{
			Arch:         para.get("Arch"),
			Name:         para.get("Package"),
			Version:      para.get("Version"),
			Architecture: para.get("Architecture"),
			Filename:     para.get("Filename"),
			SHA256:       para.get("SHA256"),
		}
		size, err := strconv.ParseInt(para.get("Size"), 10, 64)
		if err != nil || p.Arch == "" || p.Name == "" || p.Version == "" || p.Architecture == "" || p.Filename == "" || !validSHA256(p.SHA256) {
			return nil, fmt.Errorf("read lock: incomplete stanza for package %q (%s); regenerate the lock file", p.Name, p.Arch)
		}
		p.Size = size
		key := [2]string{p.Arch, p.Name}
		if seen[key] {
			return nil, fmt.Errorf("read lock: package %s (%s) listed twice; regenerate the lock file", p.Name, p.Arch)
		}
		seen[key] = true
		l.Packages = append(l.Packages, p)
	}
	if l == nil {
		return nil, fmt.Errorf("read lock: empty file; regenerate the lock file")
	}
	l.sort()
	return l, nil
}

// Check compares a resolution for arch with the lock and returns an error naming every
// difference, e.g. "iptables: lock has 1.8.11-2, archive resolves 1.8.11-3".
func (l *Lock) Check(arch string, pkgs []Package) error {
	want := map[string]LockedPackage{}
	for _, p := range l.Packages {
		if p.Arch == arch {
			want[p.Name] = p
		}
	}
	if len(want) == 0 {
		return fmt.Errorf("the lock (%s) has no Debian packages for %s; regenerate the lock file", l.Suite, arch)
	}
	got := map[string]LockedPackage{}
	for _, p := range pkgs {
		got[p.Name] = locked(arch, p)
	}
	names := make([]string, 0, len(want)+len(got))
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)

	var diffs []string
	for _, n := range names {
		w, inLock := want[n]
		g, resolved := got[n]
		switch {
		case !resolved:
			diffs = append(diffs, fmt.Sprintf("%s: lock has %s, archive no longer resolves it", n, w.Version))
		case !inLock:
			diffs = append(diffs, fmt.Sprintf("%s: archive resolves %s, lock lacks it", n, g.Version))
		case w.Version != g.Version:
			diffs = append(diffs, fmt.Sprintf("%s: lock has %s, archive resolves %s", n, w.Version, g.Version))
		case w != g:
			// Same version, different file: Debian never rebuilds a version in place.
			diffs = append(diffs, fmt.Sprintf("%s %s: lock has %s (%d bytes, sha256 %s), archive has %s (%d bytes, sha256 %s)",
				n, w.Version, w.Filename, w.Size, w.SHA256, g.Filename, g.Size, g.SHA256))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("the Debian packages for %s differ from the lock (%s): %s; regenerate the lock file if the change is expected",
		arch, l.Suite, strings.Join(diffs, "; "))
}
