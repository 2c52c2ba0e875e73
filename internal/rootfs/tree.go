package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// aliasDirs are the top-level directories that merged-/usr makes symlinks into /usr.
var aliasDirs = map[string]bool{"bin": true, "sbin": true, "lib": true, "lib32": true, "lib64": true, "libx32": true}

// canon turns an image path (absolute or relative to /) into the key every lookup uses: clean,
// without the leading slash, and with merged-/usr applied, so "/sbin/x" and "usr/sbin/x" are
// the same file. The root is "".
func canon(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	first, _, _ := strings.Cut(p, "/")
	if aliasDirs[first] {
		return "usr/" + p
	}
	return p
}

type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindLink
)

// lookupFunc reports what a canonical path is in some tree (the package index or the image being
// planned), so one resolver serves both.
type lookupFunc func(p string) (k kind, link string, ok bool)

// resolve follows symlinks in every component of p, the way the kernel would inside the image.
// It returns the canonical path p finally names and the canonical paths of the symlinks passed on
// the way. If some component does not exist, missing names it and final is "".
func resolve(lookup lookupFunc, p string) (final string, links []string, missing string, err error) {
	todo := splitPath(canon(p))
	done := ""
	hops := 0
	for len(todo) > 0 {
		next := canon(done + "/" + todo[0])
		todo = todo[1:]
		k, link, ok := lookup(next)
		if !ok {
			return "", links, next, nil
		}
		if k != kindLink {
			if k == kindFile && len(todo) > 0 {
				return "", links, canon(next + "/" + todo[0]), nil
			}
			done = next
			continue
		}
		if hops++; hops > 40 {
			return "", links, "", fmt.Errorf("/%s: too many levels of symbolic links", p)
		}
		links = append(links, next)
		target := link
		if !path.IsAbs(target) {
			// Relative to the directory holding the link, as found after merged-/usr.
			target = path.Join("/", done, link)
		}
		todo = append(splitPath(canon(target)), todo...)
		done = ""
	}
	return done, links, "", nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// entry is one path of one extracted package.
type entry struct {
	kind kind
	link string // symlink text, for kindLink
	src  string // host path, for kindFile
	exec bool   // any execute bit set in the package
	pkg  *Package
}

// index maps canonical image paths to the package entries that provide them.
type index map[string]*entry

// newIndex walks every package directory. Packages are taken in name order and the first to ship
// a path wins, so the result does not depend on the caller's order.
func newIndex(pkgs []Package) (index, error) {
	sorted := make([]*Package, len(pkgs))
	for i := range pkgs {
		sorted[i] = &pkgs[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	ix := index{}
	for _, pkg := range sorted {
		err := filepath.WalkDir(pkg.Dir, func(hostPath string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(pkg.Dir, hostPath)
			if err != nil || rel == "." {
				return err
			}
			rel = filepath.ToSlash(rel)
			e := &entry{pkg: pkg}
			switch t := d.Type(); {
			case t.IsDir():
				e.kind = kindDir
			case t&fs.ModeSymlink != 0:
				// The package that creates /bin -> usr/bin & co. would make the index loop;
				// Build writes those links itself.
				if aliasDirs[rel] {
					return nil
				}
				e.kind = kindLink
				if e.link, err = os.Readlink(hostPath); err != nil {
					return err
				}
			case t.IsRegular():
				info, err := d.Info()
				if err != nil {
					return err
				}
				e.kind, e.src, e.exec = kindFile, hostPath, info.Mode()&0o111 != 0
			default:
				return nil // devices, fifos and sockets have no place in an image
			}
			key := canon(rel)
			if _, dup := ix[key]; !dup {
				ix[key] = e
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("index package %s: %w", pkg.Name, err)
		}
	}
	return ix, nil
}

func (ix index) lookup(p string) (kind, string, bool) {
	if p == "" {
		return kindDir, "", true
	}
	e, ok := ix[p]
	if !ok {
		return 0, "", false
	}
	return e.kind, e.link, true
}

// match reports whether the canonical path p matches the canonical glob pattern: path.Match per
// component, plus "**" for any number of components.
func match(pattern, p string) bool {
	return matchParts(splitPath(pattern), splitPath(p))
}

func matchParts(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(parts); i++ {
				if matchParts(pat[1:], parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// glob returns the sorted canonical paths of files and symlinks matching pattern.
func (ix index) glob(pattern string) []string {
	pattern = canon(pattern)
	var out []string
	for p, e := range ix {
		if e.kind != kindDir && match(pattern, p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
