package debian

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Extract unpacks the data.tar member of the .deb at debPath into dir, creating dir if
// needed, and returns the slash-separated paths, relative to dir, of the directories,
// regular files, hard links and symlinks it wrote, in archive order.
//
// The package is treated as hostile. Extract refuses entries whose names are absolute or
// contain "..", hard links to paths outside the archive, and relative symlinks whose
// targets lie outside dir. Absolute symlinks are kept, because they are resolved inside
// the root filesystem later; but every write goes through an os.Root, so no extraction
// ever follows a symlink out of dir. Device nodes and FIFOs are skipped: a container gets
// its /dev from the runtime, and Debian packages do not ship them.
//
// Permission bits are kept, but setuid and setgid bits are dropped: the image runs its
// tools as root, so they would only serve privilege escalation. Ownership and times are
// not kept; the image layer sets them. On error, the files and directories Extract created
// are removed again (files it replaced stay replaced).
func Extract(debPath, dir string) (written []string, err error) {
	f, err := os.Open(debPath)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	defer f.Close()
	member, data, err := dataTar(f)
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w; the file is not a valid Debian package", debPath, err)
	}
	r, err := decompress(member, data)
	if err != nil {
		return nil, fmt.Errorf("extract %s: %s: %w", debPath, member, err)
	}
	defer r.Close()

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("extract %s: %w", debPath, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", debPath, err)
	}
	defer root.Close()
	x := &extractor{root: root, dirModes: map[string]fs.FileMode{}}
	defer func() {
		if err != nil {
			x.undo()
		}
	}()

	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("extract %s: %s: %w; the package is corrupt", debPath, member, err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return nil, fmt.Errorf("extract %s: entry %q: %w; refusing to unpack the package", debPath, truncate(hdr.Name, 200), err)
		}
	}
	if err := x.finish(); err != nil {
		return nil, fmt.Errorf("extract %s: %w", debPath, err)
	}
	return x.written, nil
}

// dataTar returns the name and content of the data.tar member of a .deb, an ar archive
// whose first member is debian-binary (deb(5)).
func dataTar(f *os.File) (string, io.Reader, error) {
	var magic [8]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "!<arch>\n" {
		return "", nil, errors.New("no ar archive header")
	}
	off := int64(len(magic))
	for i := 0; ; i++ {
		var hdr [60]byte
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			if err == io.EOF {
				return "", nil, errors.New("no data.tar member")
			}
			return "", nil, err
		}
		if string(hdr[58:]) != "`\n" {
			return "", nil, fmt.Errorf("corrupt ar header at offset %d", off)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return "", nil, fmt.Errorf("corrupt ar header at offset %d", off)
		}
		off += int64(len(hdr))
		content := io.NewSectionReader(f, off, size)
		if i == 0 {
			var version [4]byte
			n, _ := io.ReadFull(content, version[:])
			if name != "debian-binary" || !strings.HasPrefix(string(version[:n]), "2.") {
				return "", nil, errors.New("first member is not debian-binary with format 2.x")
			}
		}
		if strings.HasPrefix(name, "data.tar") {
			return name, content, nil
		}
		off += size + size%2 // members are 2-byte aligned
	}
}

// extractor writes tar entries below root and remembers what it created, to undo it.
type extractor struct {
	root    *os.Root
	written []string
	created []string // in creation order
	// dirModes holds the modes of directory entries, applied at the end so that a
	// read-only directory can still be filled.
	dirModes map[string]fs.FileMode
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := memberName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		return nil // the archive's root, which is dir itself
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			// dpkg never writes sparse files, and a sparse entry can expand a few
			// bytes of input into exabytes of zeros.
			return errors.New("sparse files are not supported")
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = x.dir(name, hdr.Mode)
	case tar.TypeReg:
		err = x.file(name, hdr.Mode, r)
	case tar.TypeSymlink:
		err = x.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		err = x.hardlink(name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if err != nil {
		return err
	}
	x.written = append(x.written, name)
	return nil
}

// memberName validates an archive path and returns it cleaned, without a leading "./".
func memberName(name string) (string, error) {
	if path.IsAbs(name) {
		return "", errors.New("absolute path")
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", errors.New(`path contains ".."`)
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("path contains NUL")
	}
	return path.Clean(name), nil
}

// mode keeps the permission bits and, for directories, the sticky bit (as on /tmp).
func mode(tarMode int64, dir bool) fs.FileMode {
	m := fs.FileMode(tarMode).Perm()
	if dir && tarMode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func (x *extractor) dir(name string, tarMode int64) error {
	if err := x.mkdirAll(name); err != nil {
		return err
	}
	// A directory that already exists as a symlink to a directory (e.g. bin -> usr/bin) is
	// left alone, as dpkg does; only real directories take the entry's mode.
	if fi, err := x.root.Lstat(name); err == nil && fi.IsDir() {
		x.dirModes[name] = mode(tarMode, true)
	}
	return nil
}

// mkdirAll creates name and its missing parents, recording what it creates. An existing
// symlink is followed, inside the root only.
func (x *extractor) mkdirAll(name string) error {
	if name == "." {
		return nil
	}
	fi, err := x.root.Stat(name)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", name)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := x.root.Mkdir(name, 0o755); err != nil {
		return err
	}
	x.created = append(x.created, name)
	return nil
}

// clear removes a non-directory at name, so that a new entry replaces it rather than
// writing through it: through a symlink to wherever it points, or through a hard link into
// another file.
func (x *extractor) clear(name string) error {
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s exists and is a directory", name)
	}
	return x.root.Remove(name)
}

func (x *extractor) file(name string, tarMode int64, r io.Reader) error {
	if err := x.clear(name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	x.created = append(x.created, name)
	_, err = io.Copy(f, r)
	if err == nil {
		// Chmod on the open file, not by name, so that it cannot be redirected; it also
		// sets the exact bits, regardless of the umask.
		err = f.Chmod(mode(tarMode, false))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (x *extractor) symlink(name, target string) error {
	if target == "" || strings.ContainsRune(target, 0) {
		return errors.New("bad symlink target")
	}
	if !path.IsAbs(target) {
		if t := path.Join(path.Dir(name), target); t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("symlink target %q escapes the extraction directory", target)
		}
	}
	if err := x.clear(name); err != nil {
		return err
	}
	if err := x.root.Symlink(target, name); err != nil {
		return err
	}
	x.created = append(x.created, name)
	return nil
}

func (x *extractor) hardlink(name, target string) error {
	old, err := memberName(target)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", target, err)
	}
	fi, err := x.root.Lstat(old)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link target %q is not a regular file", target)
	}
	if err := x.clear(name); err != nil {
		return err
	}
	if err := x.root.Link(old, name); err != nil {
		return err
	}
	x.created = append(x.created, name)
	return nil
}

// finish applies the directory modes, deepest first so that a read-only directory does not
// block changes below it.
func (x *extractor) finish() error {
	dirs := make([]string, 0, len(x.dirModes))
	for d := range x.dirModes {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		if err := x.root.Chmod(d, x.dirModes[d]); err != nil {
			return err
		}
	}
	return nil
}

// undo removes what the extractor created, newest first.
func (x *extractor) undo() {
	for _, name := range slices.Backward(x.created) {
		x.root.Remove(name)
	}
}
