package rootfs

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

const triplet = "x86_64-linux-gnu"

// fixture builds fake extracted packages in a temporary directory.
type fixture struct {
	t    *testing.T
	root string
	pkgs map[string]*Package
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, root: t.TempDir(), pkgs: map[string]*Package{}}
}

// dir returns the directory of package name, creating the package on first use.
func (f *fixture) dir(name string) string {
	if p, ok := f.pkgs[name]; ok {
		return p.Dir
	}
	dir := filepath.Join(f.root, name)
	must(f.t, os.MkdirAll(dir, 0o755))
	f.pkgs[name] = &Package{
		Name: name, Version: "1.0-1", Arch: "amd64", Dir: dir,
		Stanza: "Package: " + name + "\nSource: src-" + name + "\nVersion: 1.0-1\nArchitecture: amd64\nDescription: fake\n",
	}
	return dir
}

func (f *fixture) mkparent(p string) string {
	must(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	return p
}

// file puts a file with content and mode into a package.
func (f *fixture) file(pkg, p, content string, mode fs.FileMode) {
	host := f.mkparent(filepath.Join(f.dir(pkg), p))
	must(f.t, os.WriteFile(host, []byte(content), mode))
	must(f.t, os.Chmod(host, mode))
}

func (f *fixture) link(pkg, p, target string) {
	must(f.t, os.Symlink(target, f.mkparent(filepath.Join(f.dir(pkg), p))))
}

// host copies the host file at /p into a package at p, keeping its mode (setuid included). A host
// symlink whose target is a plain name is copied as the link plus its target, as a library's
// SONAME link and the versioned file are shipped.
func (f *fixture) host(pkg, p string) {
	f.t.Helper()
	src := "/" + p
	info, err := os.Lstat(src)
	if err != nil {
		testenv.Missing(f.t, "needs a Debian amd64 host: %v", err)
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		must(f.t, err)
		if strings.Contains(target, "/") {
			f.t.Fatalf("host %s -> %s: give the target explicitly", src, target)
		}
		f.link(pkg, p, target)
		f.host(pkg, path.Join(path.Dir(p), target))
		return
	}
	in, err := os.Open(src)
	must(f.t, err)
	defer in.Close()
	out, err := os.OpenFile(f.mkparent(filepath.Join(f.dir(pkg), p)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	must(f.t, err)
	_, err = io.Copy(out, in)
	must(f.t, err)
	must(f.t, out.Chmod(info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid)))
	must(f.t, out.Close())
}

// packages returns the fake packages, in the reverse of name order to show order does not matter.
func (f *fixture) packages() []Package {
	var out []Package
	for _, p := range f.pkgs {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name > out[j].Name })
	return out
}

// hostMount lays out the packages for the host's mount and mke2fs the way Debian bookworm ships
// them: libc6 under /lib with an absolute /lib64 interpreter link, mount in /bin, e2fsprogs in /sbin,
// docs and man pages beside.
func hostMount(f *fixture) {
	lib := "usr/lib/" + triplet + "/"
	f.host("mount", "bin/mount")
	f.file("mount", "usr/share/doc/mount/copyright", "GPL\n", 0o644)
	f.file("mount", "usr/share/man/man8/mount.8.gz", "man", 0o644)
	f.file("mount", "usr/share/locale/de/LC_MESSAGES/util-linux.mo", "mo", 0o644)
	f.host("libmount1", lib+"libmount.so.1")
	f.host("libblkid1", lib+"libblkid.so.1")
	f.host("libselinux1", "lib/"+triplet+"/libselinux.so.1")
	f.host("libpcre2-8-0", lib+"libpcre2-8.so.0")
	f.host("libc6", "lib/"+triplet+"/libc.so.6")
	f.host("libc6", "lib/"+triplet+"/ld-linux-x86-64.so.2")
	f.link("libc6", "lib64/ld-linux-x86-64.so.2", "/lib/"+triplet+"/ld-linux-x86-64.so.2")
	f.file("libc6", "usr/share/lintian/overrides/libc6", "x", 0o644)
	f.host("e2fsprogs", "sbin/mke2fs")
	f.link("e2fsprogs", "sbin/mkfs.ext4", "mke2fs")
	f.host("libext2fs2", lib+"libext2fs.so.2")
	f.host("libcom-err2", lib+"libcom_err.so.2")
	f.host("libuuid1", lib+"libuuid.so.1")
	f.host("libe2p2", lib+"libe2p.so.2")
	f.host("unused", "usr/bin/findmnt")
}

// imageLookup answers resolve's questions from a built tree, so checks never escape into the host
// through an absolute symlink.
func imageLookup(out string) lookupFunc {
	return func(p string) (kind, string, bool) {
		info, err := os.Lstat(filepath.Join(out, p))
		switch {
		case err != nil:
			return 0, "", false
		case info.Mode()&fs.ModeSymlink != 0:
			link, _ := os.Readlink(filepath.Join(out, p))
			return kindLink, link, true
		case info.IsDir():
			return kindDir, "", true
		}
		return kindFile, "", true
	}
}

// checkClosure fails unless every ELF file in out finds its interpreter and DT_NEEDED libraries
// in out, searched like ld.so does without a cache.
func checkClosure(t *testing.T, out string) {
	t.Helper()
	lookup := imageLookup(out)
	found := func(p string) bool {
		final, _, missing, err := resolve(lookup, p)
		if err != nil || missing != "" {
			return false
		}
		k, _, _ := lookup(final)
		return k == kindFile
	}
	elves := 0
	err := filepath.WalkDir(out, func(host string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		ef, err := elf.Open(host)
		if err != nil {
			return nil // not ELF
		}
		defer ef.Close()
		elves++
		rel, _ := filepath.Rel(out, host)
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP {
				b, _ := io.ReadAll(prog.Open())
				if interp := strings.TrimRight(string(b), "\x00"); !found(interp) {
					t.Errorf("/%s: interpreter %s missing", rel, interp)
				}
			}
		}
		needed, err := ef.ImportedLibraries()
		if err != nil {
			return err
		}
		dirs, err := ef.DynString(elf.DT_RUNPATH)
		if err != nil {
			return err
		}
		dirs = append(dirs, "/usr/lib/"+triplet, "/usr/lib")
	next:
		for _, lib := range needed {
			for _, dir := range dirs {
				if found(path.Join(dir, lib)) {
					continue next
				}
			}
			t.Errorf("/%s: %s missing", rel, lib)
		}
		return nil
	})
	must(t, err)
	if elves == 0 {
		t.Error("no ELF files in the image")
	}
}

// treeDigest describes a tree by path, type, permissions, link text and content hash.
func treeDigest(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(host string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, host)
		line := rel + " " + info.Mode().String()
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(host)
			if err != nil {
				return err
			}
			line += " -> " + link
		case info.Mode().IsRegular():
			data, err := os.ReadFile(host)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			line += " " + hex.EncodeToString(sum[:])
		}
		out = append(out, line)
		return nil
	})
	must(t, err)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
