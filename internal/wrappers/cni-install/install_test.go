package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// entry is a directory entry in a test layout: a file with data and mode, a symlink, or a
// directory.
type entry struct {
	data string
	mode fs.FileMode // 0 means pluginMode
	link string
	dir  bool
}

// layout creates entries in dir and gives every file an old mtime, so that a rewrite shows.
func layout(t *testing.T, dir string, entries map[string]entry) {
	t.Helper()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, e := range entries {
		p := filepath.Join(dir, name)
		switch {
		case e.dir:
			must(t, os.MkdirAll(filepath.Join(p, "inside"), 0o755))
		case e.link != "":
			must(t, os.Symlink(e.link, p))
		default:
			mode := e.mode
			if mode == 0 {
				mode = pluginMode
			}
			must(t, os.WriteFile(p, []byte(e.data), mode))
			must(t, os.Chmod(p, mode)) // past the umask
			must(t, os.Chtimes(p, old, old))
		}
	}
}

// snap is what a test observes of a file: content and mode, and the identity and times a
// rewrite, a replacement or a chmod would change.
type snap struct {
	entry
	ino   uint64
	mtime time.Time
	ctime syscall.Timespec
}

// snapshot reads every entry of dir, not following links, so that leftovers show too.
func snapshot(t *testing.T, dir string) map[string]snap {
	t.Helper()
	des, err := os.ReadDir(dir)
	must(t, err)
	m := map[string]snap{}
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		fi, err := os.Lstat(p)
		must(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		s := snap{ino: st.Ino, mtime: fi.ModTime(), ctime: st.Ctim}
		switch {
		case fi.IsDir():
			s.dir = true
		case fi.Mode()&fs.ModeSymlink != 0:
			s.link, err = os.Readlink(p)
			must(t, err)
		default:
			b, err := os.ReadFile(p)
			must(t, err)
			s.data, s.mode = string(b), fi.Mode().Perm()
		}
		m[de.Name()] = s
	}
	return m
}

func TestInstall(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 12500) // 200 kB: several compare buffers
	for _, tc := range []struct {
		name     string
		from, to map[string]entry
		want     result
		log      []string
		after    map[string]entry // the whole of to afterwards, temporary files included
		kept     []string         // entries of to that must not be touched: same inode, mtime, ctime
		replaced []string         // entries of to that must be new files (renamed over), not rewritten
		err      string           // what the error must contain
	}{{
		name:  "empty destination",
		from:  map[string]entry{"bridge": {data: "B"}, "loopback": {data: "L"}},
		want:  result{installed: 2},
		log:   []string{"installed bridge", "installed loopback"},
		after: map[string]entry{"bridge": {data: "B", mode: 0o755}, "loopback": {data: "L", mode: 0o755}},
	}, {
		name:  "mode of the source is not copied",
		from:  map[string]entry{"bridge": {data: "B", mode: 0o600}},
		want:  result{installed: 1},
		log:   []string{"installed bridge"},
		after: map[string]entry{"bridge": {data: "B", mode: 0o755}},
	}, {
		name:  "identical files untouched",
		from:  map[string]entry{"bridge": {data: "B"}, "host-local": {data: big}},
		to:    map[string]entry{"bridge": {data: "B"}, "host-local": {data: big}},
		want:  result{unchanged: 2},
		log:   []string{"unchanged bridge", "unchanged host-local"},
		after: map[string]entry{"bridge": {data: "B", mode: 0o755}, "host-local": {data: big, mode: 0o755}},
		kept:  []string{"bridge", "host-local"},
	}, {
		name:     "changed content of the same size replaced",
		from:     map[string]entry{"bridge": {data: "new"}, "host-local": {data: big}},
		to:       map[string]entry{"bridge": {data: "old"}, "host-local": {data: big[:len(big)-1] + "X"}},
		want:     result{updated: 2},
		log:      []string{"updated bridge", "updated host-local"},
		after:    map[string]entry{"bridge": {data: "new", mode: 0o755}, "host-local": {data: big, mode: 0o755}},
		replaced: []string{"bridge", "host-local"},
	}, {
		name:     "changed size replaced",
		from:     map[string]entry{"bridge": {data: "v1.6.0"}},
		to:       map[string]entry{"bridge": {data: "v1.5"}},
		want:     result{updated: 1},
		log:      []string{"updated bridge"},
		after:    map[string]entry{"bridge": {data: "v1.6.0", mode: 0o755}},
		replaced: []string{"bridge"},
	}, {
		name:     "same content without the plugin mode replaced",
		from:     map[string]entry{"bridge": {data: "B"}},
		to:       map[string]entry{"bridge": {data: "B", mode: 0o644}},
		want:     result{updated: 1},
		log:      []string{"updated bridge"},
		after:    map[string]entry{"bridge": {data: "B", mode: 0o755}},
		replaced: []string{"bridge"},
	}, {
		name: "foreign files left alone",
		from: map[string]entry{"bridge": {data: "B"}},
		to: map[string]entry{
			"calico": {data: "C", mode: 0o700}, "flannel": {link: "/elsewhere/flannel"}, "README": {data: "r", mode: 0o644},
		},
		want: result{installed: 1},
		log:  []string{"installed bridge"},
		after: map[string]entry{
			"bridge": {data: "B", mode: 0o755},
			"calico": {data: "C", mode: 0o700}, "flannel": {link: "/elsewhere/flannel"}, "README": {data: "r", mode: 0o644},
		},
		kept: []string{"calico", "flannel", "README"},
	}, {
		name: "sibling links installed as links after the files, other links followed, directories skipped",
		from: map[string]entry{
			"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M"},
			"lo": {link: "./loopback"}, "loopback": {data: "L"}, "sub": {dir: true},
		},
		want: result{installed: 4},
		log: []string{"installed cni-plugins", "installed lo", "installed loopback", "skipped FROM/sub: not a regular file",
			"installed bridge -> cni-plugins"},
		after: map[string]entry{
			"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M", mode: 0o755},
			"lo": {data: "L", mode: 0o755}, "loopback": {data: "L", mode: 0o755},
		},
	}, {
		name:     "a copied plugin becomes a link",
		from:     map[string]entry{"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M"}},
		to:       map[string]entry{"bridge": {data: "B", mode: 0o755}, "cni-plugins": {data: "M", mode: 0o755}},
		want:     result{updated: 1, unchanged: 1},
		log:      []string{"unchanged cni-plugins", "updated bridge -> cni-plugins"},
		after:    map[string]entry{"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M", mode: 0o755}},
		replaced: []string{"bridge"},
		kept:     []string{"cni-plugins"},
	}, {
		name:  "same link kept",
		from:  map[string]entry{"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M"}},
		to:    map[string]entry{"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M", mode: 0o755}},
		want:  result{unchanged: 2},
		log:   []string{"unchanged cni-plugins", "unchanged bridge -> cni-plugins"},
		after: map[string]entry{"bridge": {link: "cni-plugins"}, "cni-plugins": {data: "M", mode: 0o755}},
		kept:  []string{"bridge", "cni-plugins"},
	}, {
		name: "destination link to the same content kept",
		from: map[string]entry{"bridge": {data: "B"}, "real": {data: "B"}},
		to:   map[string]entry{"bridge": {link: "real"}, "real": {data: "B"}},
		want: result{unchanged: 2},
		log:  []string{"unchanged bridge", "unchanged real"},
		after: map[string]entry{
			"bridge": {link: "real"}, "real": {data: "B", mode: 0o755},
		},
		kept: []string{"bridge", "real"},
	}, {
		name:     "destination link to other content replaced by a file",
		from:     map[string]entry{"bridge": {data: "B"}},
		to:       map[string]entry{"bridge": {link: "other"}, "other": {data: "O"}},
		want:     result{updated: 1},
		log:      []string{"updated bridge"},
		after:    map[string]entry{"bridge": {data: "B", mode: 0o755}, "other": {data: "O", mode: 0o755}},
		replaced: []string{"bridge"},
		kept:     []string{"other"},
	}, {
		name:  "directory in the plugin's place",
		from:  map[string]entry{"a": {data: "A"}, "bridge": {data: "B"}, "z": {data: "Z"}},
		to:    map[string]entry{"bridge": {dir: true}},
		want:  result{installed: 1},
		log:   []string{"installed a"},
		err:   "install TO/bridge: rename TO/.bridge.cni-install-",
		after: map[string]entry{"a": {data: "A", mode: 0o755}, "bridge": {dir: true}}, // no temporary file
		kept:  []string{"bridge"},
	}, {
		name: "no source directory",
		from: nil,
		err:  "read plugins: open FROM: no such file or directory; the image has no CNI plugins there",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			from, to := filepath.Join(root, "from"), filepath.Join(root, "to")
			must(t, os.Mkdir(to, 0o755))
			if tc.from != nil {
				must(t, os.Mkdir(from, 0o755))
				layout(t, from, tc.from)
			}
			layout(t, to, tc.to)
			before := snapshot(t, to)
			var log []string
			res, err := install(from, to, func(s string) { log = append(log, s) })
			expand := strings.NewReplacer("FROM", from, "TO", to).Replace
			if tc.err == "" && err != nil {
				t.Fatalf("error: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), expand(tc.err))) {
				t.Fatalf("error %v, want one containing %q", err, expand(tc.err))
			}
			if res != tc.want {
				t.Errorf("result %+v, want %+v", res, tc.want)
			}
			for i := range tc.log {
				tc.log[i] = expand(tc.log[i])
			}
			if !slices.Equal(log, tc.log) {
				t.Errorf("log %q, want %q", log, tc.log)
			}
			if tc.from == nil {
				return
			}
			after := snapshot(t, to)
			got := map[string]entry{}
			for name, s := range after {
				got[name] = s.entry
			}
			if !reflect.DeepEqual(got, nonNil(tc.after)) {
				t.Errorf("destination holds %+v, want %+v", got, tc.after)
			}
			for _, name := range tc.kept {
				b, a := before[name], after[name]
				if a.ino != b.ino || !a.mtime.Equal(b.mtime) || a.ctime != b.ctime {
					t.Errorf("%s touched: inode %d→%d, mtime %v→%v, ctime %v→%v", name, b.ino, a.ino, b.mtime, a.mtime, b.ctime, a.ctime)
				}
			}
			for _, name := range tc.replaced {
				if before[name].ino == after[name].ino {
					t.Errorf("%s rewritten in place (inode %d), not replaced", name, after[name].ino)
				}
			}
		})
	}
}

// TestInstallTwice checks that a second run finds nothing to do and touches nothing.
func TestInstallTwice(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	layout(t, from, map[string]entry{"bridge": {data: "B"}, "portmap": {data: "P", mode: 0o700}})
	if res, err := install(from, to, func(string) {}); err != nil || res != (result{installed: 2}) {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	before := snapshot(t, to)
	if res, err := install(from, to, func(string) {}); err != nil || res != (result{unchanged: 2}) {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	if after := snapshot(t, to); !reflect.DeepEqual(after, before) {
		t.Errorf("second run changed the destination:\n%+v\n%+v", before, after)
	}
}

func TestHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, "read-write"},
		{&os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EACCES}, "root"},
		{syscall.ENOSPC, "free space"},
		{syscall.EIO, "check the host's CNI plugin directory"},
	} {
		if got := hint(tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("hint(%v) = %q, want it to contain %q", tc.err, got, tc.want)
		}
	}
}

func nonNil(m map[string]entry) map[string]entry {
	if m == nil {
		return map[string]entry{}
	}
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
