package rootfs

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

func mountSpec() Spec {
	return Spec{Arch: "amd64", Commands: []string{"/usr/bin/mount", "/usr/sbin/mkfs.ext4"}}
}

func TestBuildHostBinaries(t *testing.T) {
	f := newFixture(t)
	hostMount(f)
	out := filepath.Join(t.TempDir(), "rootfs")
	m, err := Build(mountSpec(), f.packages(), out)
	if err != nil {
		t.Fatal(err)
	}
	checkClosure(t, out)

	lookup := imageLookup(out)
	for _, p := range []string{"/usr/bin/mount", "/bin/mount", "/sbin/mke2fs", "/lib64/ld-linux-x86-64.so.2", "/lib/" + triplet + "/libc.so.6"} {
		if final, _, missing, err := resolve(lookup, p); err != nil || missing != "" {
			t.Errorf("%s does not resolve in the image: %v %s", p, err, missing)
		} else if k, _, _ := lookup(final); k != kindFile {
			t.Errorf("%s resolves to /%s, not a file", p, final)
		}
	}
	links := map[string]string{
		"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64", "var/run": "/run",
		"usr/sbin/mkfs.ext4":                    "mke2fs",
		"usr/lib64/ld-linux-x86-64.so.2":        "/lib/" + triplet + "/ld-linux-x86-64.so.2",
		"usr/lib/" + triplet + "/libmount.so.1": mustReadlink(t, "/usr/lib/"+triplet+"/libmount.so.1"),
	}
	for p, want := range links {
		if got, err := os.Readlink(filepath.Join(out, p)); err != nil || got != want {
			t.Errorf("/%s -> %q (%v), want %q", p, got, err, want)
		}
	}
	modes := map[string]fs.FileMode{
		"tmp":           fs.ModeDir | fs.ModeSticky | 0o777,
		"run":           fs.ModeDir | 0o755,
		"root":          fs.ModeDir | 0o700,
		"usr":           fs.ModeDir | 0o755,
		"usr/bin/mount": 0o755, // setuid on the host
		"usr/lib/" + triplet + "/libselinux.so.1": 0o644,
		"etc/passwd": 0o644,
	}
	for p, want := range modes {
		if info, err := os.Lstat(filepath.Join(out, p)); err != nil || info.Mode() != want {
			t.Errorf("/%s: mode %v (%v), want %v", p, info.Mode(), err, want)
		}
	}
	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian", "usr/bin/findmnt", "etc/ssl"} {
		if _, err := os.Lstat(filepath.Join(out, p)); err == nil {
			t.Errorf("/%s is in the image", p)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(out, "etc/passwd")); !strings.HasPrefix(string(data), "root:x:0:0:") {
		t.Errorf("/etc/passwd = %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "etc/nsswitch.conf")); !strings.Contains(string(data), "hosts:          files dns\n") {
		t.Errorf("/etc/nsswitch.conf = %q", data)
	}

	wantPkgs := []string{"e2fsprogs", "libblkid1", "libc6", "libcom-err2", "libe2p2", "libext2fs2", "libmount1", "libpcre2-8-0", "libselinux1", "libuuid1", "mount"}
	if !reflect.DeepEqual(m.Packages, wantPkgs) {
		t.Errorf("manifest packages %v, want %v", m.Packages, wantPkgs)
	}
	status, err := os.ReadDir(filepath.Join(out, "var/lib/dpkg/status.d"))
	must(t, err)
	var got []string
	for _, e := range status {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, wantPkgs) {
		t.Errorf("status.d has %v, want %v", got, wantPkgs)
	}
	data, err := os.ReadFile(filepath.Join(out, "var/lib/dpkg/status.d/mount"))
	must(t, err)
	if want := "Package: mount\nStatus: install ok installed\nSource: src-mount\n"; !strings.HasPrefix(string(data), want) {
		t.Errorf("status.d/mount = %q, want it to start %q", data, want)
	}

	checkManifest(t, m, out)
	for _, file := range m.Files {
		if file.Path == "/usr/sbin/mkfs.ext4" && file.Package != "e2fsprogs" {
			t.Errorf("manifest: %s from %q, want e2fsprogs", file.Path, file.Package)
		}
	}
}

// checkManifest fails unless the manifest lists exactly the tree.
func checkManifest(t *testing.T, m *Manifest, out string) {
	t.Helper()
	var fromTree, fromManifest []string
	for _, line := range treeDigest(t, out)[1:] { // [0] is the root
		path, rest, _ := strings.Cut(line, " ")
		mode, link, _ := strings.Cut(rest, " -> ")
		mode, _, _ = strings.Cut(mode, " ")
		fromTree = append(fromTree, "/"+path+" "+mode+" "+link)
	}
	for _, f := range m.Files {
		fromManifest = append(fromManifest, f.Path+" "+f.Mode.String()+" "+f.Link)
	}
	if !reflect.DeepEqual(fromTree, fromManifest) {
		t.Errorf("manifest does not match the tree:\n%s\nvs\n%s", strings.Join(fromManifest, "\n"), strings.Join(fromTree, "\n"))
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	link, err := os.Readlink(p)
	if err != nil {
		testenv.Missing(t, "needs a Debian amd64 host: %v", err)
	}
	return link
}

// TestBuildRunpath takes man-db's apropos, whose private libraries are found through its RUNPATH.
func TestBuildRunpath(t *testing.T) {
	f := newFixture(t)
	hostMount(f)
	f.host("man-db", "usr/bin/apropos")
	private, _ := filepath.Glob("/usr/lib/man-db/lib*-*.so")
	for _, lib := range private {
		f.host("man-db", strings.TrimPrefix(lib, "/"))
	}
	f.host("libgdbm6", "usr/lib/"+triplet+"/libgdbm.so.6")
	f.host("libpipeline1", "usr/lib/"+triplet+"/libpipeline.so.1")
	f.host("libseccomp2", "usr/lib/"+triplet+"/libseccomp.so.2")
	out := filepath.Join(t.TempDir(), "rootfs")
	if _, err := Build(Spec{Arch: "amd64", Commands: []string{"/usr/bin/apropos"}}, f.packages(), out); err != nil {
		t.Fatal(err)
	}
	checkClosure(t, out)
	if got, _ := filepath.Glob(filepath.Join(out, "usr/lib/man-db/*.so")); len(got) != len(private) || len(got) == 0 {
		t.Errorf("private libraries %v, want one per %v", got, private)
	}
}

func TestBuildDeterministic(t *testing.T) {
	f := newFixture(t)
	hostMount(f)
	f.file("ca-certificates", "usr/share/ca-certificates/mozilla/A.crt", "A\n", 0o644)
	spec := mountSpec()
	spec.CACertificates = true
	spec.Files = []string{"/usr/share/doc/**"}
	pkgs := f.packages()
	reversed := append([]Package(nil), pkgs...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	outs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	var ms []*Manifest
	for i, p := range [][]Package{pkgs, reversed} {
		m, err := Build(spec, p, outs[i])
		must(t, err)
		ms = append(ms, m)
	}
	if a, b := treeDigest(t, outs[0]), treeDigest(t, outs[1]); !reflect.DeepEqual(a, b) {
		t.Errorf("trees differ:\n%s\nvs\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if !reflect.DeepEqual(ms[0], ms[1]) {
		t.Errorf("manifests differ")
	}
}

// TestChroot runs a command of a built tree, the real test that the closure is complete.
func TestChroot(t *testing.T) {
	testenv.Root(t) // chroot
	f := newFixture(t)
	hostMount(f)
	out := filepath.Join(t.TempDir(), "rootfs")
	if _, err := Build(mountSpec(), f.packages(), out); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"/usr/bin/mount", "--version"}, {"/sbin/mkfs.ext4", "-V"}} {
		got, err := exec.Command("chroot", append([]string{out}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("chroot %s: %v: %s", strings.Join(args, " "), err, got)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	wrapper := filepath.Join(t.TempDir(), "wrapper")
	must(t, os.WriteFile(wrapper, []byte("not ELF"), 0o755))
	for _, tc := range []struct {
		name   string
		edit   func(*Spec, *fixture) // changes the host-mount case
		outDir func(t *testing.T) string
		want   string
	}{
		{
			name: "missing command of a known package",
			edit: func(s *Spec, _ *fixture) { s.Commands = append(s.Commands, "/usr/sbin/mkfs.xfs") },
			want: "command /usr/sbin/mkfs.xfs: not in any package (add xfsprogs to Packages)",
		},
		{
			name: "missing command of an unknown package",
			edit: func(s *Spec, _ *fixture) { s.Commands = append(s.Commands, "/usr/bin/nothing") },
			want: "command /usr/bin/nothing: not in any package",
		},
		{
			name: "missing library",
			edit: func(_ *Spec, f *fixture) { delete(f.pkgs, "libpcre2-8-0") },
			want: "libpcre2-8.so.0 needed by /usr/lib/" + triplet + "/libselinux.so.1: not found in packages",
		},
		{
			name: "library of another architecture",
			edit: func(_ *Spec, f *fixture) {
				p := filepath.Join(f.pkgs["libpcre2-8-0"].Dir, "usr/lib", triplet)
				ents, err := os.ReadDir(p)
				must(t, err)
				for _, e := range ents {
					must(t, os.RemoveAll(filepath.Join(p, e.Name())))
				}
				f.file("libpcre2-8-0", "usr/lib/"+triplet+"/libpcre2-8.so.0", "\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00\x01\x00\x00\x00"+strings.Repeat("\x00", 40), 0o644)
			},
			want: "libpcre2-8.so.0 needed by /usr/lib/" + triplet + "/libselinux.so.1: not found in packages",
		},
		{
			name: "dangling symlink",
			edit: func(_ *Spec, f *fixture) { must(t, os.Remove(filepath.Join(f.pkgs["e2fsprogs"].Dir, "sbin/mke2fs"))) },
			want: "command /usr/sbin/mkfs.ext4: symlink target /usr/sbin/mke2fs: not in any package",
		},
		{
			name: "script without its interpreter",
			edit: func(s *Spec, f *fixture) {
				f.file("tool", "usr/sbin/tool", "#!/bin/sh -e\necho hi\n", 0o755)
				s.Commands = append(s.Commands, "/usr/sbin/tool")
			},
			want: "interpreter /bin/sh of /usr/sbin/tool: not in any package",
		},
		{
			name: "glob matching nothing",
			edit: func(s *Spec, _ *fixture) { s.Files = []string{"/usr/lib/" + triplet + "/xtables/*.so"} },
			want: "file /usr/lib/" + triplet + "/xtables/*.so: matches nothing in the packages",
		},
		{
			name: "directory as command",
			edit: func(s *Spec, _ *fixture) { s.Commands = []string{"/usr/sbin"} },
			want: "command /usr/sbin: /usr/sbin is a directory",
		},
		{
			name: "symlink to nothing",
			edit: func(s *Spec, _ *fixture) { s.Symlinks = map[string]string{"/usr/sbin/iptables": "iptables-wrapper"} },
			want: "symlink /usr/sbin/iptables -> iptables-wrapper: /usr/sbin/iptables-wrapper is not in the image",
		},
		{
			name: "extra missing on the host",
			edit: func(s *Spec, _ *fixture) { s.Extra = map[string]string{"/usr/sbin/x": "/nonexistent/x"} },
			want: "extra /usr/sbin/x: stat /nonexistent/x: no such file or directory",
		},
		{
			name: "extra over a package file",
			edit: func(s *Spec, _ *fixture) { s.Extra = map[string]string{"/bin/mount": wrapper} },
			want: "/usr/bin/mount: provided by both package mount and Spec.Extra",
		},
		{
			name: "unsupported architecture",
			edit: func(s *Spec, _ *fixture) { s.Arch = "mips64el" },
			want: `architecture "mips64el": not supported`,
		},
		{
			name: "package of another architecture",
			edit: func(_ *Spec, f *fixture) { f.pkgs["libc6"].Arch = "arm64" },
			want: "package libc6: architecture arm64, want amd64",
		},
		{
			name: "CA certificates without certificates",
			edit: func(s *Spec, _ *fixture) { s.CACertificates = true },
			want: "CA certificates: no /usr/share/ca-certificates/**/*.crt in the packages (add ca-certificates to Packages)",
		},
		{
			name: "package without stanza",
			edit: func(_ *Spec, f *fixture) { f.pkgs["libc6"].Stanza = "" },
			want: "package libc6: no control stanza",
		},
		{
			name: "output not empty",
			outDir: func(t *testing.T) string {
				dir := t.TempDir()
				must(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o644))
				return dir
			},
			want: "not empty",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			hostMount(f)
			spec := mountSpec()
			if tc.edit != nil {
				tc.edit(&spec, f)
			}
			out := filepath.Join(t.TempDir(), "rootfs")
			if tc.outDir != nil {
				out = tc.outDir(t)
			}
			_, err := Build(spec, f.packages(), out)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line ending %q", err, tc.want)
			}
			if tc.outDir == nil {
				if ents, _ := os.ReadDir(out); len(ents) > 0 {
					t.Errorf("failed build left %d entries in %s", len(ents), out)
				}
			}
		})
	}
}

// TestBuildPaths covers path resolution with data files: merged-/usr in both directions,
// symlink chains through aliases, directories and absolute targets, globs, and base-files'
// own /lib -> usr/lib link, which must not send the index into a loop.
func TestBuildPaths(t *testing.T) {
	f := newFixture(t)
	f.file("a", "usr/share/a/data.txt", "data", 0o644)
	f.link("a", "usr/sbin/first", "../../sbin/second")         // -> /sbin/second, i.e. /usr/sbin/second
	f.link("a", "sbin/second", "/usr/share/a/current/payload") // through a directory link
	f.link("a", "usr/share/a/current", "v2")
	f.file("a", "usr/share/a/v2/payload", "payload", 0o640)
	f.file("a", "usr/share/a/v1/payload", "old", 0o644)
	f.link("a", "usr/bin/loop1", "loop2")
	f.link("a", "usr/bin/loop2", "loop1")
	f.link("base-files", "lib", "usr/lib")
	f.link("base-files", "lib64", "usr/lib64")
	f.file("base-files", "usr/lib/os-release", "ID=debian\n", 0o644)
	f.link("base-files", "etc/os-release", "../usr/lib/os-release")
	f.file("b", "lib/mods/x/one.so.conf", "1", 0o755)
	f.file("b", "usr/lib/mods/two.so.conf", "2", 0o644)
	f.file("b", "usr/lib/mods/skip.txt", "no", 0o644)

	wrapper := filepath.Join(t.TempDir(), "wrapper")
	must(t, os.WriteFile(wrapper, []byte("not ELF"), 0o700))
	spec := Spec{
		Arch:     "arm64",
		Files:    []string{"/usr/sbin/first", "/etc/os-release", "/lib/mods/**/*.conf"},
		Extra:    map[string]string{"/usr/sbin/iptables-wrapper": wrapper},
		Symlinks: map[string]string{"/sbin/iptables": "iptables-wrapper", "/usr/sbin/ip6tables": "/sbin/iptables"},
	}
	for name := range f.pkgs {
		f.pkgs[name].Arch = "all"
	}
	out := filepath.Join(t.TempDir(), "rootfs")
	m, err := Build(spec, f.packages(), out)
	must(t, err)
	checkManifest(t, m, out)
	digest := map[string]string{}
	for _, line := range treeDigest(t, out) {
		p, rest, _ := strings.Cut(line, " ")
		digest[p] = rest
	}
	for p, want := range map[string]string{
		"usr/sbin/first":             "Lrwxrwxrwx -> ../../sbin/second",
		"usr/sbin/second":            "Lrwxrwxrwx -> /usr/share/a/current/payload",
		"usr/share/a/current":        "Lrwxrwxrwx -> v2",
		"usr/share/a/v2/payload":     "-rw-r--r--",
		"usr/lib/mods/x/one.so.conf": "-rwxr-xr-x",
		"usr/lib/mods/two.so.conf":   "-rw-r--r--",
		"etc/os-release":             "Lrwxrwxrwx -> ../usr/lib/os-release",
		"usr/lib/os-release":         "-rw-r--r--",
		"usr/sbin/iptables":          "Lrwxrwxrwx -> iptables-wrapper",
		"usr/sbin/ip6tables":         "Lrwxrwxrwx -> /sbin/iptables",
		"usr/sbin/iptables-wrapper":  "-rwxr-xr-x",
		"lib":                        "Lrwxrwxrwx -> usr/lib",
	} {
		if got := digest[p]; !strings.HasPrefix(got, want) {
			t.Errorf("/%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"lib64", "usr/share/a/v1", "usr/share/a/data.txt", "usr/lib/mods/skip.txt"} {
		if _, ok := digest[p]; ok {
			t.Errorf("/%s is in the image", p)
		}
	}
	if !reflect.DeepEqual(m.Packages, []string{"a", "b", "base-files"}) {
		t.Errorf("packages %v", m.Packages)
	}

	spec.Files = []string{"/usr/bin/loop1"}
	if _, err := Build(spec, f.packages(), filepath.Join(t.TempDir(), "loop")); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("symlink loop: %v", err)
	}
}

func TestCABundle(t *testing.T) {
	f := newFixture(t)
	f.file("ca-certificates", "usr/share/ca-certificates/mozilla/B.crt", "B\n", 0o644)
	f.file("ca-certificates", "usr/share/ca-certificates/mozilla/A.crt", "A-no-newline", 0o644)
	f.file("ca-certificates", "usr/share/ca-certificates/mozilla/README", "not a cert", 0o644)
	f.file("ca-certificates", "usr/share/ca-certificates/cacert.org/root.crt", "C\n", 0o644)
	f.file("corp-ca", "usr/share/ca-certificates/zz-corp/corp.crt", "Z\n", 0o644)
	f.link("corp-ca", "usr/share/ca-certificates/zz-corp/alias.crt", "corp.crt")
	out := filepath.Join(t.TempDir(), "rootfs")
	m, err := Build(Spec{Arch: "amd64", CACertificates: true}, f.packages(), out)
	must(t, err)
	data, err := os.ReadFile(filepath.Join(out, "etc/ssl/certs/ca-certificates.crt"))
	must(t, err)
	if want := "C\nA-no-newline\nB\nZ\nZ\n"; string(data) != want {
		t.Errorf("bundle %q, want %q", data, want)
	}
	if _, err := os.Stat(filepath.Join(out, "usr/share/ca-certificates")); err == nil {
		t.Error("the individual certificates are in the image")
	}
	if !reflect.DeepEqual(m.Packages, []string{"ca-certificates", "corp-ca"}) {
		t.Errorf("packages %v", m.Packages)
	}
	for _, file := range m.Files {
		if file.Path == "/etc/ssl/certs/ca-certificates.crt" && file.Package != "ca-certificates,corp-ca" {
			t.Errorf("bundle from %q", file.Package)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"usr/lib/x/*.so", "usr/lib/x/libxt_NAT.so", true},
		{"usr/lib/x/*.so", "usr/lib/x/sub/libxt_NAT.so", false},
		{"usr/share/ca/**", "usr/share/ca/a/b.crt", true},
		{"usr/share/ca/**", "usr/share/ca", true},
		{"usr/share/ca/**/*.crt", "usr/share/ca/b.crt", true},
		{"usr/share/ca/**/*.crt", "usr/share/ca/x/y/b.crt", true},
		{"usr/share/ca/**/*.crt", "usr/share/ca/x/y/b.pem", false},
		{"usr/share/ca/**/*.crt", "usr/share/cab/b.crt", false},
	} {
		if got := match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestCanon(t *testing.T) {
	for in, want := range map[string]string{
		"/sbin/x": "usr/sbin/x", "sbin/x": "usr/sbin/x", "/usr/sbin/x": "usr/sbin/x",
		"/lib64/ld.so": "usr/lib64/ld.so", "/libexec/x": "libexec/x", "/": "", "/etc/../bin": "usr/bin",
	} {
		if got := canon(in); got != want {
			t.Errorf("canon(%q) = %q, want %q", in, got, want)
		}
	}
}
