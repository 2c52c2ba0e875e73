package debian

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/debian/debtest"
)

// writeDeb writes a .deb holding entries, with data.tar compressed as compression says.
func writeDeb(t testing.TB, compression string, entries ...debtest.Entry) string {
	t.Helper()
	deb := debtest.Deb(t, "Package: t\nVersion: 1\nArchitecture: all\n", debtest.Tar(t, entries...), compression)
	path := filepath.Join(t.TempDir(), "t.deb")
	if err := os.WriteFile(path, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeRemovable lets t.TempDir's cleanup remove dir even if Extract made read-only
// directories in it, as it does when not run as root.
func makeRemovable(t testing.TB, dir string) {
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
	})
}

func TestExtract(t *testing.T) {
	for _, compression := range []string{"", "gz", "xz", "zst"} {
		t.Run("data.tar."+compression, func(t *testing.T) {
			deb := writeDeb(t, compression,
				debtest.Dir("./", 0o755),
				debtest.Dir("./usr/", 0o755),
				debtest.Dir("./usr/bin/", 0o755),
				debtest.File("./usr/bin/mount", 0o4755, "ELF"),
				debtest.Hardlink("./usr/bin/umount", "./usr/bin/mount"),
				debtest.Symlink("./usr/bin/mnt", "mount"),
				debtest.Symlink("./usr/bin/abs", "/usr/bin/mount"),
				debtest.Dir("./tmp/", 0o1777),
				debtest.Dir("./secret/", 0o700),
				debtest.Dir("./ro/", 0o555),
				debtest.File("./ro/file", 0o444, "read-only"),
				// The archive may omit parent directories.
				debtest.File("./usr/share/doc/t/copyright", 0o644, "GPL"),
				// An in-root symlink to a directory is followed, as in merged /usr.
				debtest.Symlink("./lib", "usr/lib"),
				debtest.Dir("./usr/lib/", 0o755),
				debtest.File("./lib/libt.so", 0o644, "lib"),
				// Device nodes are skipped.
				debtest.Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "./dev-null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
			)
			dir := filepath.Join(t.TempDir(), "rootfs")
			makeRemovable(t, dir)
			written, err := Extract(deb, dir)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"usr", "usr/bin", "usr/bin/mount", "usr/bin/umount", "usr/bin/mnt", "usr/bin/abs", "tmp", "secret", "ro", "ro/file",
				"usr/share/doc/t/copyright", "lib", "usr/lib", "lib/libt.so"}
			if !slices.Equal(written, want) {
				t.Errorf("written %q\nwant    %q", written, want)
			}
			modes := map[string]fs.FileMode{
				"usr/bin/mount":       0o755, // setuid dropped
				"tmp":                 fs.ModeDir | fs.ModeSticky | 0o777,
				"secret":              fs.ModeDir | 0o700,
				"ro":                  fs.ModeDir | 0o555,
				"ro/file":             0o444,
				"usr/share/doc":       fs.ModeDir | 0o755,
				"usr/lib/libt.so":     0o644,
				"usr/bin/mnt":         fs.ModeSymlink | 0o777,
				"usr/share/doc/t/cop": 0, // absent
			}
			for name, want := range modes {
				fi, err := os.Lstat(filepath.Join(dir, name))
				if want == 0 {
					if err == nil {
						t.Errorf("%s exists", name)
					}
					continue
				}
				if err != nil {
					t.Error(err)
					continue
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
				}
			}
			for link, target := range map[string]string{"usr/bin/mnt": "mount", "usr/bin/abs": "/usr/bin/mount", "lib": "usr/lib"} {
				if got, err := os.Readlink(filepath.Join(dir, link)); got != target {
					t.Errorf("%s -> %q (%v), want %q", link, got, err, target)
				}
			}
			a, _ := os.Stat(filepath.Join(dir, "usr/bin/mount"))
			b, _ := os.Stat(filepath.Join(dir, "usr/bin/umount"))
			if !os.SameFile(a, b) {
				t.Error("usr/bin/umount is not a hard link to usr/bin/mount")
			}
		})
	}
}

func TestExtractReplacesRatherThanWritesThrough(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(outside, []byte("precious"), 0o644)
	dir := t.TempDir()
	// An earlier package left an absolute symlink and a hard link to another file.
	os.Symlink(outside, filepath.Join(dir, "conf"))
	os.WriteFile(filepath.Join(dir, "other"), []byte("other"), 0o644)
	os.Link(filepath.Join(dir, "other"), filepath.Join(dir, "linked"))

	deb := writeDeb(t, "gz", debtest.File("./conf", 0o644, "new"), debtest.File("./linked", 0o644, "new"))
	if _, err := Extract(deb, dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{outside: "precious", filepath.Join(dir, "other"): "other", filepath.Join(dir, "conf"): "new", filepath.Join(dir, "linked"): "new"} {
		if got, _ := os.ReadFile(path); string(got) != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}

func TestExtractRejectsHostilePackages(t *testing.T) {
	outside := t.TempDir() // an absolute path outside the extraction directory
	ok := []debtest.Entry{debtest.Dir("./usr/", 0o755), debtest.File("./usr/ok", 0o644, "fine")}
	tests := []struct {
		name    string
		entries []debtest.Entry
		wantErr string
	}{
		{"parent path", []debtest.Entry{debtest.File("../x", 0o644, "x")}, `entry "../x": path contains ".."`},
		{"parent path after dot", []debtest.Entry{debtest.File("./../x", 0o644, "x")}, `path contains ".."`},
		{"parent path inside", []debtest.Entry{debtest.File("./usr/../../x", 0o644, "x")}, `path contains ".."`},
		{"dot-dot that stays inside", []debtest.Entry{debtest.File("./usr/../x", 0o644, "x")}, `path contains ".."`},
		{"absolute path", []debtest.Entry{debtest.File("/etc/x", 0o644, "x")}, `entry "/etc/x": absolute path`},
		{"absolute dir", []debtest.Entry{debtest.Dir("/etc/", 0o755)}, "absolute path"},
		{"relative symlink escapes", []debtest.Entry{debtest.Symlink("./usr/evil", "../../etc")}, `symlink target "../../etc" escapes`},
		{"symlink escapes via dot-dot", []debtest.Entry{debtest.Symlink("./evil", "usr/../..")}, "escapes"},
		{
			"file through an absolute symlink",
			[]debtest.Entry{debtest.Symlink("./evil", outside), debtest.File("./evil/x", 0o644, "x")},
			`entry "./evil/x": `,
		},
		{
			"directory through an absolute symlink",
			[]debtest.Entry{debtest.Symlink("./evil", outside), debtest.Dir("./evil/sub/", 0o755)},
			`entry "./evil/sub/": `,
		},
		{
			"symlink through an absolute symlink",
			[]debtest.Entry{debtest.Symlink("./evil", outside), debtest.Symlink("./evil/x", "/etc/passwd")},
			`entry "./evil/x": `,
		},
		{"hard link escapes", []debtest.Entry{debtest.Hardlink("./h", "../../etc/passwd")}, `hard link target "../../etc/passwd": path contains ".."`},
		{"hard link absolute", []debtest.Entry{debtest.Hardlink("./h", "/etc/passwd")}, "absolute path"},
		{
			"hard link to a symlink that escapes",
			[]debtest.Entry{debtest.Symlink("./s", "/etc/passwd"), debtest.Hardlink("./h", "./s")},
			"is not a regular file",
		},
		{"hard link to nothing", []debtest.Entry{debtest.Hardlink("./h", "./missing")}, "hard link target"},
		{"file over a directory", []debtest.Entry{debtest.Dir("./usr/", 0o755), debtest.File("./usr", 0o644, "x")}, "exists and is a directory"},
		{"directory over a file", []debtest.Entry{debtest.File("./x", 0o644, "x"), debtest.Dir("./x/", 0o755)}, "not a directory"},
		{"unsupported type", []debtest.Entry{{Header: tar.Header{Typeflag: 'Z', Name: "./z"}}}, "unsupported tar entry type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Good entries first: they must be removed again.
			deb := writeDeb(t, "xz", append(slices.Clone(ok), tt.entries...)...)
			dir := t.TempDir()
			_, err := Extract(deb, dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "refusing to unpack the package") {
				t.Errorf("err = %v, want it to say what happens", err)
			}
			assertEmpty(t, dir)
			assertEmpty(t, outside)
		})
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s holds %s", dir, e.Name())
	}
}

func TestExtractRejectsBrokenDebs(t *testing.T) {
	data := debtest.Tar(t, debtest.File("./x", 0o644, "x"))
	goodXZ := debtest.Compress(t, data, "xz")
	tests := []struct {
		name    string
		deb     []byte
		wantErr string
	}{
		{"not an ar archive", []byte("hello world, this is not a deb"), "no ar archive header"},
		{"empty", nil, "no ar archive header"},
		{"no data member", debtest.Ar(debtest.ArMember{Name: "debian-binary", Data: []byte("2.0\n")}), "no data.tar member"},
		{"wrong first member", debtest.Ar(debtest.ArMember{Name: "data.tar", Data: data}), "first member is not debian-binary"},
		{"format 3", debtest.Ar(debtest.ArMember{Name: "debian-binary", Data: []byte("3.0\n")}, debtest.ArMember{Name: "data.tar", Data: data}), "format 2.x"},
		{"corrupt ar header", append(debtest.Ar(debtest.ArMember{Name: "debian-binary", Data: []byte("2.0\n")}), "garbage garbage garbage garbage garbage garbage garbage garbage"...), "corrupt ar header"},
		{
			"truncated data",
			debtest.Ar(debtest.ArMember{Name: "debian-binary", Data: []byte("2.0\n")}, debtest.ArMember{Name: "data.tar.xz", Data: goodXZ[:len(goodXZ)/2]}),
			"data.tar.xz",
		},
		{
			"unknown compression",
			debtest.Ar(debtest.ArMember{Name: "debian-binary", Data: []byte("2.0\n")}, debtest.ArMember{Name: "data.tar.lz4", Data: data}),
			"unsupported compression",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.deb")
			os.WriteFile(path, tt.deb, 0o644)
			dir := t.TempDir()
			if _, err := Extract(path, dir); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			assertEmpty(t, dir)
		})
	}
	if _, err := Extract(filepath.Join(t.TempDir(), "missing.deb"), t.TempDir()); err == nil {
		t.Error("Extract of a missing file succeeded")
	}
}
