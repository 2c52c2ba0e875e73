package output

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func emptyIndex() v1.ImageIndex { return empty.Index }

// staged is an output written beside its destination, not yet in place.
type staged struct {
	tmp, dest string
	committed bool
}

// stageDir fills a fresh directory beside dest.
func stageDir(dest string, fill func(dir string) error) (*staged, error) {
	parent, pattern := tempSibling(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return nil, err
	}
	s := &staged{tmp: tmp, dest: dest}
	if err := os.Chmod(tmp, 0o755); err != nil {
		s.cleanup()
		return nil, err
	}
	if err := fill(tmp); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// stageFile writes a temporary file beside dest.
func stageFile(dest string, fill func(f *os.File) error) (*staged, error) {
	parent, pattern := tempSibling(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(parent, pattern)
	if err != nil {
		return nil, err
	}
	s := &staged{tmp: f.Name(), dest: dest}
	err = fill(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// commit swaps the staged output with its destination in one rename (RENAME_EXCHANGE), so
// readers see the old output or the new one, never a mix; tmp then holds the old one.
func (s *staged) commit() error {
	err := unix.Renameat2(unix.AT_FDCWD, s.tmp, unix.AT_FDCWD, s.dest, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) {
		err = os.Rename(s.tmp, s.dest)
	}
	if err == nil {
		s.committed = true
	}
	return err
}

// rollback puts the old output back after a commit: swapped back, or the new one removed where
// there was none.
func (s *staged) rollback() error {
	if !s.committed {
		return nil
	}
	if _, err := os.Lstat(s.tmp); errors.Is(err, fs.ErrNotExist) {
		return os.RemoveAll(s.dest)
	}
	return unix.Renameat2(unix.AT_FDCWD, s.tmp, unix.AT_FDCWD, s.dest, unix.RENAME_EXCHANGE)
}

// cleanup removes what is left beside the destination: the staged output, or the old one.
func (s *staged) cleanup() { os.RemoveAll(s.tmp) }

// commitAll puts every staged output in place, or none: a failed commit rolls back the ones
// before it. Each is cleaned up afterwards either way.
func commitAll(outputs ...*staged) error {
	defer func() {
		for _, s := range outputs {
			s.cleanup()
		}
	}()
	for i, s := range outputs {
		if err := s.commit(); err != nil {
			for j := i - 1; j >= 0; j-- {
				if rerr := outputs[j].rollback(); rerr != nil {
					return fmt.Errorf("%w; restoring %s also failed: %v", err, outputs[j].dest, rerr)
				}
			}
			return err
		}
	}
	return nil
}

// replaceDir fills a fresh directory beside dest, then swaps it with dest in one rename.
func replaceDir(dest string, fill func(dir string) error) error {
	s, err := stageDir(dest, fill)
	if err != nil {
		return err
	}
	return commitAll(s)
}

// ReplaceFile writes a temporary file beside dest and renames it over dest once complete.
func ReplaceFile(dest string, fill func(f *os.File) error) error {
	s, err := stageFile(dest, fill)
	if err != nil {
		return err
	}
	return commitAll(s)
}

// writeLayoutArchive writes an OCI layout as a tar stream, entries sorted and time-stamped at the
// epoch so that equal layouts give equal archives.
func writeLayoutArchive(w io.Writer, images []Named) error {
	parent, pattern := tempSibling(os.TempDir() + "/layout")
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeLayout(dir, images); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if d.IsDir() {
			hdr.Name, hdr.Mode, hdr.Typeflag = hdr.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(hdr)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Size = fi.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
