package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// pluginMode is the mode of an installed plugin: the runtime only needs to execute it, but this
// is the mode the CNI release tarballs and distribution packages give plugins.
const pluginMode = 0o755

// result counts the plugins install handled, by what it did with them.
type result struct {
	installed, updated, unchanged int
}

// install copies each regular file in from (or link to one) into the directory to, in name
// order, and logs one line per file. A link to a sibling file ("bridge -> cni-plugins", how a
// multicall binary ships its names) is installed as the same link, after every file, so that it
// never points at nothing. A destination that already has the same content and mode (or link
// text) is left untouched. Others are replaced atomically: the runtime may execute a plugin at any
// time and must see either the old file or the new one, never part of one. Files in to that are
// not in from belong to someone else and are left alone. It stops at the first failure.
func install(from, to string, log func(string)) (result, error) {
	var res result
	names, err := readDirNames(from)
	if errors.Is(err, os.ErrNotExist) {
		return res, errors.New("read plugins: " + err.Error() +
			"; the image has no CNI plugins there: use a CNI flavor or correct --from")
	}
	if err != nil {
		return res, errors.New("read plugins: " + err.Error() + "; the image is damaged: rebuild it")
	}
	type link struct{ name, target string }
	var links []link
	count := func(name string, st state) {
		switch st {
		case absent:
			res.installed++
			log("installed " + name)
		case different:
			res.updated++
			log("updated " + name)
		case same:
			res.unchanged++
			log("unchanged " + name)
		}
	}
	for _, name := range names {
		src := from + "/" + name
		if target, ok := siblingLink(src); ok {
			links = append(links, link{name, target})
			continue
		}
		fi, err := stat(src) // follows a link, to install what it points to
		if err != nil {
			return res, errors.New("read plugin: " + err.Error() + "; the image is damaged: rebuild it")
		}
		if !fi.regular() {
			log("skipped " + src + ": not a regular file")
			continue
		}
		st, err := installFile(src, fi.size, to, name)
		if err != nil {
			return res, errors.New("install " + to + "/" + name + ": " + err.Error() + "; " + hint(err))
		}
		count(name, st)
	}
	for _, l := range links {
		st, err := installLink(l.target, to, l.name)
		if err != nil {
			return res, errors.New("install " + to + "/" + l.name + ": " + err.Error() + "; " + hint(err))
		}
		count(l.name+" -> "+l.target, st)
	}
	if res.installed+res.updated > 0 {
		// Makes the renames durable. Best effort: each file was synced before its rename, so a
		// crash leaves the old or the new file, and the next start compares them again.
		if d, err := os.Open(to); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return res, nil
}

// siblingLink returns the text of path's symlink if it names a regular file in the same directory.
func siblingLink(path string) (string, bool) {
	target, err := os.Readlink(path)
	if err != nil || target == "" || strings.Contains(target, "/") || target == "." || target == ".." {
		return "", false
	}
	fi, err := stat(path)
	return target, err == nil && fi.regular()
}

// installLink makes dir/name a symlink to target unless it is one already. The new link is made
// under a temporary name and renamed over the old entry, which is atomic as for files.
func installLink(target, dir, name string) (state, error) {
	dst := dir + "/" + name
	st := different
	if cur, err := os.Readlink(dst); err == nil && cur == target {
		return same, nil
	} else if _, err := lstat(dst); errors.Is(err, os.ErrNotExist) {
		st = absent
	}
	// The pid tells concurrent installers' links apart; a leftover from a killed run is reused.
	tmp := dir + "/." + name + ".cni-install-" + strconv.Itoa(os.Getpid())
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return st, err
	}
	if err := syscall.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return st, &os.LinkError{Op: "rename", Old: tmp, New: dst, Err: err}
	}
	return st, nil
}

// state is what the destination held before install.
type state int

const (
	absent state = iota
	different
	same
)

// installFile makes dir/name a copy of src, which is size bytes long, unless it is one already,
// and reports what it found there.
func installFile(src string, size int64, dir, name string) (state, error) {
	dst := dir + "/" + name
	st, err := compare(src, size, dst)
	if err != nil || st == same {
		return st, err
	}
	// The temporary file lives in dir so that the rename stays on one filesystem and is atomic.
	// The leading dot keeps it out of casual listings; the random suffix (O_EXCL) keeps two
	// installers from writing into the same file. A kill during the copy can leave one behind.
	tmp, err := os.CreateTemp(dir, "."+name+".cni-install-")
	if err != nil {
		return st, err
	}
	if err := writeTemp(tmp, src); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return st, err
	}
	// Not os.Rename, which stats the destination first: see stat.
	if err := syscall.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return st, &os.LinkError{Op: "rename", Old: tmp.Name(), New: dst, Err: err}
	}
	return st, nil
}

// writeTemp fills tmp with the content of src, executable and synced to disk, and closes it.
func writeTemp(tmp *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	// Synced before the rename, or a crash could leave the new name on an empty file.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(pluginMode); err != nil { // CreateTemp made it 0600
		return err
	}
	return tmp.Close()
}

// compare reports whether dst is absent, or a regular file with src's size, content and
// pluginMode. It compares bytes, not hashes: it has to read both files either way, stops at the
// first difference, and leaves crypto out of the binary.
func compare(src string, size int64, dst string) (state, error) {
	fi, err := stat(dst)
	if errors.Is(err, os.ErrNotExist) {
		return absent, nil
	}
	if err != nil {
		return absent, err
	}
	if !fi.regular() || fi.mode&0o7777 != pluginMode || fi.size != size {
		return different, nil
	}
	a, err := os.Open(src)
	if err != nil {
		return different, err
	}
	defer a.Close()
	b, err := os.Open(dst)
	if err != nil {
		return different, err
	}
	defer b.Close()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, errA := io.ReadFull(a, bufA)
		m, errB := io.ReadFull(b, bufB)
		if n != m || !bytes.Equal(bufA[:n], bufB[:m]) {
			return different, nil
		}
		switch {
		case errA == nil && errB == nil:
			continue
		case errA == io.EOF || errA == io.ErrUnexpectedEOF:
			// Both ended at once, unless a file changed as it was read: then it differs.
			if errB != errA {
				return different, nil
			}
			return same, nil
		case errA != nil:
			return different, errA
		default:
			return different, errB
		}
	}
}

// fileInfo is what this program needs of stat(2). It calls syscall.Stat because os.Stat's
// FileInfo carries a time.Time, which links time formatting in: a tenth of the binary.
type fileInfo struct {
	mode uint32
	size int64
}

func (fi fileInfo) regular() bool { return fi.mode&syscall.S_IFMT == syscall.S_IFREG }
func (fi fileInfo) dir() bool     { return fi.mode&syscall.S_IFMT == syscall.S_IFDIR }

// stat is os.Stat, with the same errors.
func stat(path string) (fileInfo, error) { return statWith(syscall.Stat, "stat", path) }

// lstat is os.Lstat, with the same errors.
func lstat(path string) (fileInfo, error) { return statWith(syscall.Lstat, "lstat", path) }

func statWith(call func(string, *syscall.Stat_t) error, op, path string) (fileInfo, error) {
	var st syscall.Stat_t
	var err error = syscall.EINTR
	for err == syscall.EINTR {
		err = call(path, &st)
	}
	if err != nil {
		return fileInfo{}, &os.PathError{Op: op, Path: path, Err: err}
	}
	return fileInfo{mode: st.Mode, size: st.Size}, nil
}

// readDirNames is os.ReadDir's sorted names. os.ReadDir can stat entries, which links in time
// formatting (see stat).
func readDirNames(dir string) ([]string, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var names []string
	buf := make([]byte, 8<<10)
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names) // skips . and ..
	}
	slices.Sort(names)
	return names, nil
}

// hint says what an operator can do about a failure to write into the host directory.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return "mount the host's CNI plugin directory read-write"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "run the container as root, or make the host's CNI plugin directory writable"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free space on the host's filesystem"
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR):
		return "remove what stands in the plugin's place on the host"
	}
	return "check the host's CNI plugin directory, then restart the container"
}
