package wrappers

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestModprobe runs modprobe against a module tree laid out as a kernel's, built with its root
// moved there and loading recorded instead of done (FAKE_LOAD): this machine's kernel loads no
// modules. The VM test loads real ones.
func TestModprobe(t *testing.T) {
	root := t.TempDir()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var release []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	mods := filepath.Join(root, "lib", "modules", string(release))
	files := map[string]string{
		"modules.dep": "kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz kernel/lib/libcrc32c.ko.xz\n" +
			"kernel/net/netfilter/nf_conntrack.ko.xz: kernel/lib/libcrc32c.ko.xz\n" +
			"kernel/lib/libcrc32c.ko.xz:\n" +
			"kernel/drivers/net/dummy.ko:\n",
		"modules.builtin":                         "kernel/net/bridge/br_netfilter.ko\n",
		"kernel/net/netfilter/ipvs/ip_vs.ko.xz":   "",
		"kernel/net/netfilter/nf_conntrack.ko.xz": "",
		"kernel/lib/libcrc32c.ko.xz":              "",
		"kernel/drivers/net/dummy.ko":             "",
	}
	for name, content := range files {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(mods, name)), 0o755))
		must(t, os.WriteFile(filepath.Join(mods, name), []byte(content), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(root, "sys", "module"), 0o755))

	prog := Modprobe()
	prog.Flags = append(prog.Flags, "-DFAKE_LOAD", `-DROOT="`+root+`"`)
	bin := hostBinary(t, prog)
	run := func(args ...string) (string, int) { return runExit(t, bin, args...) }
	for _, tc := range []struct {
		args []string
		out  string
		code int
	}{
		// kube-proxy's call: dependencies first, from the last listed.
		{[]string{"-va", "ip_vs"}, "insmod " + mods + "/kernel/lib/libcrc32c.ko.xz\ninsmod " + mods + "/kernel/net/netfilter/nf_conntrack.ko.xz\ninsmod " + mods + "/kernel/net/netfilter/ipvs/ip_vs.ko.xz\n", 0},
		{[]string{"-va", "ip_vs"}, "", 0}, // loaded: nothing to do
		{[]string{"-v", "dummy"}, "insmod " + mods + "/kernel/drivers/net/dummy.ko\n", 0},
		{[]string{"br-netfilter"}, "", 0}, // built in, named with a dash
		{[]string{"-q", "nosuch"}, "", 1},
		{[]string{"nosuch"}, "modprobe: FATAL: Module nosuch not found in directory " + mods + "\n", 1},
		{[]string{"ip_vs", "x=1"}, "modprobe: module parameters are not supported; use -a to load several modules\n", 2},
		{[]string{"-r", "ip_vs"}, "usage: modprobe [-a] [-v] [-q] MODULE...\n", 2},
	} {
		out, code := run(tc.args...)
		if strings.TrimPrefix(out, bin+": invalid option -- 'r'\n") != tc.out || code != tc.code {
			t.Errorf("modprobe %v: %q, exit %d; want %q, exit %d", tc.args, out, code, tc.out, tc.code)
		}
	}
	for _, m := range []string{"libcrc32c", "nf_conntrack", "ip_vs", "dummy"} {
		if _, err := os.Stat(filepath.Join(root, "sys", "module", m)); err != nil {
			t.Errorf("%s not loaded: %v", m, err)
		}
	}
	// Without the host's modules mounted, it says what to do.
	must(t, os.RemoveAll(filepath.Join(root, "lib")))
	if out, code := run("-va", "ip_vs"); code != 1 || !strings.Contains(out, "mount the host's /lib/modules") {
		t.Errorf("without /lib/modules: %q, exit %d", out, code)
	}
}
