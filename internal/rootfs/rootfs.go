// Package rootfs cuts an image's userland out of extracted Debian packages: the wanted commands
// and files, their ELF closure, CA certificates, the few /etc files a container needs, and dpkg
// status entries so image scanners see the packages. Nothing else from the packages is kept.
package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Package is one extracted Debian package.
type Package struct {
	Name, Version, Arch string
	Stanza              string // control stanza, written to /var/lib/dpkg/status.d/<Name>
	Dir                 string // host directory holding the package's extracted data.tar
}

// Spec declares what an image's userland must contain. Image paths are absolute; merged-/usr
// applies, so /sbin/x and /usr/sbin/x name the same file.
type Spec struct {
	Arch     string   // Debian architecture of the image: amd64, arm64 or armhf
	Packages []string // Debian packages the caller resolves and extracts for this spec
	Commands []string // executables the image must run, e.g. "/usr/bin/mount"
	// Files are extra paths or globs ("*" within a component, "**" across them), e.g.
	// "/usr/lib/x86_64-linux-gnu/xtables/*.so". ELF files among them get their closure like
	// commands, which is how modules loaded with dlopen stay complete.
	Files []string
	// Symlinks are links Build writes as given (image path -> link text); each must resolve to
	// something in the image.
	Symlinks map[string]string
	// Programs are the image paths of ckubelet's own programs the userland needs (IptablesWrapper,
	// Modprobe); the caller builds them and passes them in Extra.
	Programs []string
	// Extra are files that come from the host rather than a package (image path -> host path),
	// e.g. the iptables wrapper at IptablesWrapper. ELF files get their closure.
	Extra map[string]string
	// Needs are host ELF files shipped elsewhere (a cgo kubelet has a layer of its own) whose
	// shared libraries the image must provide; the files themselves are not copied.
	Needs []string
	// CACertificates generates /etc/ssl/certs/ca-certificates.crt from the packages'
	// /usr/share/ca-certificates/**/*.crt, as ca-certificates' postinst would.
	CACertificates bool
}

// Manifest describes a built tree.
type Manifest struct {
	Files    []File   // every path in the tree except its root, sorted by Path
	Packages []string // sorted names of the packages at least one file came from
}

// File is one path in a built tree.
type File struct {
	Path    string      // absolute image path
	Mode    fs.FileMode // type and permission bits as written
	Link    string      // symlink text, for symlinks
	Package string      // Debian package it came from (comma-separated for the CA bundle); "" if Build made it or from Spec.Extra
}

// errNotInPackages is returned by addPath when the path itself is missing, so callers can add a hint.
var errNotInPackages = errors.New("not in any package")

// node is one planned non-directory path of the image.
type node struct {
	kind   kind // kindFile or kindLink
	link   string
	src    string // host file to copy, or
	data   []byte // generated content
	exec   bool
	pkg    string // Debian package(s) it came from
	origin string // for conflict messages
}

func (n *node) same(o *node) bool {
	return n.kind == o.kind && n.link == o.link && n.src == o.src && bytes.Equal(n.data, o.data) && n.exec == o.exec
}

// plan is the image being selected, keyed by canonical path. Nothing touches the disk until write.
type plan struct {
	ix      index
	arch    archInfo
	nodes   map[string]*node
	dirs    map[string]fs.FileMode // directories with their permissions
	aliases map[string]string      // top-level merged-/usr links, kept apart since canon folds them
	scanned map[string]bool        // files whose closure is done
}

// Build writes the root filesystem spec selects from pkgs into outDir, which must not exist or be
// empty, and returns its manifest. The tree is deterministic in paths, contents, modes and links;
// timestamps and ownership are left to the layer writer. On error outDir is left empty.
func Build(spec Spec, pkgs []Package, outDir string) (_ *Manifest, err error) {
	arch, ok := archFor(spec.Arch)
	if !ok {
		return nil, fmt.Errorf("architecture %q: not supported", spec.Arch)
	}
	for _, p := range pkgs {
		if p.Arch != spec.Arch && p.Arch != "all" {
			return nil, fmt.Errorf("package %s: architecture %s, want %s", p.Name, p.Arch, spec.Arch)
		}
	}
	ix, err := newIndex(pkgs)
	if err != nil {
		return nil, err
	}
	pl := &plan{ix: ix, arch: arch, nodes: map[string]*node{}, dirs: map[string]fs.FileMode{}, aliases: map[string]string{}, scanned: map[string]bool{}}
	if err := pl.selectFiles(spec); err != nil {
		return nil, err
	}
	if err := pl.system(spec); err != nil {
		return nil, err
	}
	owners, err := pl.status(pkgs)
	if err != nil {
		return nil, err
	}
	if err := prepareOut(outDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			clearDir(outDir)
		}
	}()
	files, err := pl.write(outDir)
	if err != nil {
		return nil, err
	}
	return &Manifest{Files: files, Packages: owners}, nil
}

// selectFiles plans the commands, files and extras of spec with their closures.
func (pl *plan) selectFiles(spec Spec) error {
	for _, c := range spec.Commands {
		final, err := pl.addPath(c)
		if err == errNotInPackages {
			err = fmt.Errorf("%w%s", err, providerHint(c))
		}
		if err != nil {
			return fmt.Errorf("command %s: %w", c, err)
		}
		if err := pl.closure(final); err != nil {
			return err
		}
	}
	for _, f := range spec.Files {
		paths := []string{f}
		if strings.ContainsAny(f, "*?[") {
			if paths = pl.ix.glob(f); len(paths) == 0 {
				return fmt.Errorf("file %s: matches nothing in the packages", f)
			}
		}
		for _, p := range paths {
			final, err := pl.addPath(p)
			if err != nil {
				return fmt.Errorf("file %s: %w", p, err)
			}
			if err := pl.closure(final); err != nil {
				return err
			}
		}
	}
	for _, dst := range sortedKeys(spec.Extra) {
		src := spec.Extra[dst]
		info, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("extra %s: %w", dst, err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("extra %s: %s is not a regular file", dst, src)
		}
		p := canon(dst)
		if err := pl.put(p, &node{kind: kindFile, src: src, exec: info.Mode()&0o111 != 0, origin: "Spec.Extra"}); err != nil {
			return err
		}
		if err := pl.closure(p); err != nil {
			return err
		}
	}
	for i, src := range spec.Needs {
		// Planned without parents under a name no image path has, scanned, then dropped.
		p := fmt.Sprintf(".needs/%d", i)
		pl.nodes[p] = &node{kind: kindFile, src: src, exec: true, origin: "Spec.Needs"}
		err := pl.closure(p)
		delete(pl.nodes, p)
		if err != nil {
			return fmt.Errorf("libraries of %s: %w", src, err)
		}
	}
	return nil
}

// addPath plans the package path p: every symlink on the way (kept as links) and the file it
// finally names. It returns that file's canonical path.
func (pl *plan) addPath(p string) (string, error) {
	final, links, missing, err := resolve(pl.ix.lookup, p)
	if err != nil {
		return "", err
	}
	if missing != "" {
		if len(links) == 0 {
			return "", errNotInPackages
		}
		return "", fmt.Errorf("symlink target /%s: %w", missing, errNotInPackages)
	}
	for _, l := range links {
		e := pl.ix[l]
		if err := pl.put(l, &node{kind: kindLink, link: e.link, pkg: e.pkg.Name, origin: "package " + e.pkg.Name}); err != nil {
			return "", err
		}
	}
	e := pl.ix[final]
	if e == nil || e.kind != kindFile {
		return "", fmt.Errorf("/%s is a directory", final)
	}
	return final, pl.put(final, &node{kind: kindFile, src: e.src, exec: e.exec, pkg: e.pkg.Name, origin: "package " + e.pkg.Name})
}

// put plans n at canonical path p; planning the same thing twice is fine, two different things is not.
func (pl *plan) put(p string, n *node) error {
	if old, ok := pl.nodes[p]; ok {
		if old.same(n) {
			return nil
		}
		return fmt.Errorf("/%s: provided by both %s and %s", p, old.origin, n.origin)
	}
	if _, ok := pl.dirs[p]; ok {
		return fmt.Errorf("/%s: %s provides a file where the image has a directory", p, n.origin)
	}
	if err := pl.parents(p); err != nil {
		return err
	}
	pl.nodes[p] = n
	return nil
}

// mkdir plans directory p with permissions perm.
func (pl *plan) mkdir(p string, perm fs.FileMode) error {
	if n, ok := pl.nodes[p]; ok {
		return fmt.Errorf("/%s: %s provides a file where the image needs a directory", p, n.origin)
	}
	if err := pl.parents(p); err != nil {
		return err
	}
	pl.dirs[p] = perm
	return nil
}

// parents plans the missing parent directories of p as 0755.
func (pl *plan) parents(p string) error {
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if n, ok := pl.nodes[d]; ok {
			return fmt.Errorf("/%s: %s provides a file where /%s needs a directory", d, n.origin, p)
		}
		if _, ok := pl.dirs[d]; !ok {
			pl.dirs[d] = 0o755
		}
	}
	return nil
}

// lookup answers resolve's questions about the planned image.
func (pl *plan) lookup(p string) (kind, string, bool) {
	if n, ok := pl.nodes[p]; ok {
		return n.kind, n.link, true
	}
	if _, ok := pl.dirs[p]; ok || p == "" {
		return kindDir, "", true
	}
	return 0, "", false
}

func prepareOut(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = os.MkdirAll(dir, 0o755)
	case err == nil && len(entries) > 0:
		err = fmt.Errorf("not empty")
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", dir, err)
	}
	return nil
}

func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// write creates the planned tree under outDir, parents before children, and lists it.
func (pl *plan) write(outDir string) ([]File, error) {
	var files []File
	for _, d := range sortedKeys(pl.dirs) {
		host := filepath.Join(outDir, filepath.FromSlash(d))
		if err := os.Mkdir(host, 0o700); err != nil {
			return nil, err
		}
		// Chmod, not Mkdir's mode: the umask must not change the tree, and Mkdir drops the sticky bit.
		if err := os.Chmod(host, pl.dirs[d]); err != nil {
			return nil, err
		}
		files = append(files, File{Path: "/" + d, Mode: fs.ModeDir | pl.dirs[d]})
	}
	for _, p := range sortedKeys(pl.nodes) {
		n := pl.nodes[p]
		host := filepath.Join(outDir, filepath.FromSlash(p))
		f := File{Path: "/" + p, Package: n.pkg}
		if n.kind == kindLink {
			f.Mode, f.Link = fs.ModeSymlink|0o777, n.link
			if err := os.Symlink(n.link, host); err != nil {
				return nil, err
			}
		} else {
			// Only the execute bit survives: setuid/setgid make no sense for a root-run container.
			f.Mode = 0o644
			if n.exec {
				f.Mode = 0o755
			}
			if err := writeFile(host, n, f.Mode); err != nil {
				return nil, err
			}
		}
		files = append(files, f)
	}
	for _, a := range sortedKeys(pl.aliases) {
		if err := os.Symlink(pl.aliases[a], filepath.Join(outDir, a)); err != nil {
			return nil, err
		}
		files = append(files, File{Path: "/" + a, Mode: fs.ModeSymlink | 0o777, Link: pl.aliases[a]})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func writeFile(host string, n *node, mode fs.FileMode) error {
	out, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if n.src != "" {
		in, err := os.Open(n.src)
		if err != nil {
			out.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if err != nil {
			out.Close()
			return fmt.Errorf("copy %s: %w", n.src, err)
		}
	} else if _, err := out.Write(n.data); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
