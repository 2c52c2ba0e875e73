package rootfs

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// archInfo is what Build needs to know about a Debian architecture.
type archInfo struct {
	triplet string // multiarch tuple, the library directory under /usr/lib
	machine elf.Machine
	class   elf.Class
	lib64   bool // the ELF interpreter is /lib64/..., so the image needs the /lib64 alias
}

// archFor describes a Debian architecture ckubelet builds for (see catalog).
func archFor(debArch string) (archInfo, bool) {
	p, ok := catalog.ForDebianArch(debArch)
	if !ok {
		return archInfo{}, false
	}
	machine, class := p.ELF()
	return archInfo{triplet: p.Triplet(), machine: machine, class: class, lib64: p.Lib64()}, true
}

// libDirs is where glibc's ld.so looks when a program names no path. Debian patches multiarch
// directories into its built-in list, and the image has no ld.so.cache, so this is all it searches.
func (a archInfo) libDirs() []string {
	return []string{"/lib/" + a.triplet, "/usr/lib/" + a.triplet, "/lib", "/usr/lib"}
}

// closure adds everything the planned file at canonical path p needs to run: for ELF files the
// program interpreter and the DT_NEEDED libraries, recursively; for scripts the #! interpreter.
func (pl *plan) closure(p string) error {
	queue := []string{p}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if pl.scanned[p] {
			continue
		}
		pl.scanned[p] = true
		deps, err := pl.deps(p)
		if err != nil {
			return err
		}
		queue = append(queue, deps...)
	}
	return nil
}

// deps adds the direct run-time dependencies of the planned file p and returns their canonical paths.
func (pl *plan) deps(p string) ([]string, error) {
	f, err := os.Open(pl.nodes[p].src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read /%s: %w", p, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return nil, nil
		}
		dep, err := pl.interpreter(fields[0], p)
		return []string{dep}, err
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return pl.elfDeps(f, p)
	}
	return nil, nil
}

func (pl *plan) interpreter(interp, user string) (string, error) {
	final, err := pl.addPath(interp)
	if err != nil {
		return "", fmt.Errorf("interpreter %s of /%s: %w", interp, user, err)
	}
	return final, nil
}

func (pl *plan) elfDeps(r io.ReaderAt, p string) ([]string, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF /%s: %w", p, err)
	}
	if ef.Machine != pl.arch.machine || ef.Class != pl.arch.class {
		return nil, fmt.Errorf("/%s: ELF is %v %v, want %v %v", p, ef.Class, ef.Machine, pl.arch.class, pl.arch.machine)
	}
	var deps []string
	for _, prog := range ef.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(prog.Open())
		if err != nil {
			return nil, fmt.Errorf("read ELF interpreter of /%s: %w", p, err)
		}
		dep, err := pl.interpreter(strings.TrimRight(string(b), "\x00"), p)
		if err != nil {
			return nil, err
		}
		deps = append(deps, dep)
	}
	needed, err := ef.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("read DT_NEEDED of /%s: %w", p, err)
	}
	dirs, err := searchPath(ef, p)
	if err != nil {
		return nil, err
	}
	dirs = append(dirs, pl.arch.libDirs()...)
	for _, name := range needed {
		dep, err := pl.findLib(name, dirs)
		if err != nil {
			return nil, err
		}
		if dep == "" {
			return nil, fmt.Errorf("%s needed by /%s: not found in packages", name, p)
		}
		deps = append(deps, dep)
	}
	return deps, nil
}

// searchPath returns the directories an ELF file's own DT_RPATH or DT_RUNPATH adds before the
// default ones; like ld.so, RPATH counts only when there is no RUNPATH.
func searchPath(ef *elf.File, p string) ([]string, error) {
	list, err := ef.DynString(elf.DT_RUNPATH)
	if err == nil && len(list) == 0 {
		list, err = ef.DynString(elf.DT_RPATH)
	}
	if err != nil {
		return nil, fmt.Errorf("read RUNPATH of /%s: %w", p, err)
	}
	origin := path.Dir("/" + p)
	var dirs []string
	for _, l := range list {
		for _, d := range strings.Split(l, ":") {
			d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs, nil
}

// findLib looks for a library the way ld.so does: a name with a slash is a path, anything else is
// tried in each directory, skipping files for another architecture. It adds the first hit (with
// the symlinks leading to it, such as the SONAME link) and returns its canonical path, or "".
func (pl *plan) findLib(name string, dirs []string) (string, error) {
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = candidates[:0]
		for _, d := range dirs {
			candidates = append(candidates, path.Join(d, name))
		}
	}
	for _, c := range candidates {
		final, _, missing, err := resolve(pl.ix.lookup, c)
		if err != nil {
			return "", err
		}
		if e := pl.ix[final]; missing != "" || e == nil || e.kind != kindFile || !pl.sameArch(e.src) {
			continue
		}
		return pl.addPath(c)
	}
	return "", nil
}

func (pl *plan) sameArch(hostPath string) bool {
	ef, err := elf.Open(hostPath)
	if err != nil {
		return false
	}
	defer ef.Close()
	return ef.Machine == pl.arch.machine && ef.Class == pl.arch.class
}
