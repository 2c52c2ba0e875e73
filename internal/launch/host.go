package launch

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// Cgroup drivers, as kubelet's cgroupDriver spells them.
const (
	CgroupDriverSystemd  = "systemd"
	CgroupDriverCgroupfs = "cgroupfs"
)

// Host is what kubelet's configuration must agree with on this machine.
type Host struct {
	CgroupV2 bool // the unified hierarchy is mounted at /sys/fs/cgroup
	// SystemdPID1 means systemd is the init system: it owns the cgroup tree, so kubelet and the
	// runtime must create cgroups through it (cgroup driver "systemd").
	SystemdPID1 bool
}

// CgroupDriver is the driver kubelet should use here: systemd when it manages the cgroup tree,
// otherwise cgroupfs. It must match the runtime's own (containerd: SystemdCgroup in the runc
// options; docker: native.cgroupdriver); kubelet 1.37 asks a runtime that supports the CRI
// RuntimeConfig call (containerd ≥ 2.0) and falls back to this setting with older ones.
func (h Host) CgroupDriver() string {
	if h.SystemdPID1 {
		return CgroupDriverSystemd
	}
	return CgroupDriverCgroupfs
}

func (h Host) String() string {
	v := "v1"
	if h.CgroupV2 {
		v = "v2"
	}
	init := "PID 1 is not systemd"
	if h.SystemdPID1 {
		init = "PID 1 is systemd"
	}
	return fmt.Sprintf("cgroup %s, cgroup driver %s (%s)", v, h.CgroupDriver(), init)
}

// DetectHost inspects a root file system ("/" for this machine; an fs.FS for tests): cgroup v2 if
// sys/fs/cgroup/cgroup.controllers exists (on v1 and hybrid hosts /sys/fs/cgroup is a tmpfs of
// per-controller hierarchies), systemd if run/systemd/system exists (sd_booted()'s test).
func DetectHost(root fs.FS) Host {
	exists := func(p string) bool { _, err := fs.Stat(root, p); return err == nil }
	return Host{
		CgroupV2:    exists("sys/fs/cgroup/cgroup.controllers"),
		SystemdPID1: exists("run/systemd/system"),
	}
}

// DetectThisHost is DetectHost of this machine.
func DetectThisHost() Host { return DetectHost(os.DirFS("/")) }

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	mountPoint string
	optional   []string // "shared:N", "master:N", …
}

// parseMountinfo parses /proc/self/mountinfo (proc(5)): ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS.
func parseMountinfo(text string) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 {
			return nil, fmt.Errorf("mountinfo: malformed line %q", sc.Text())
		}
		out = append(out, mountEntry{mountPoint: unescapeOctal(f[4]), optional: f[6:sep]})
	}
	return out, sc.Err()
}

// unescapeOctal undoes mountinfo's \040-style escapes of spaces, tabs, newlines and backslashes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount that holds path p: the last-mounted one with the longest mount point
// at or above p (mountinfo lists mounts in mount order, so a later one on the same point hides
// an earlier one).
func mountOf(entries []mountEntry, p string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, e := range entries {
		if under(p, e.mountPoint) && (!found || len(e.mountPoint) >= len(best.mountPoint)) {
			best, found = e, true
		}
	}
	return best, found
}

func (e mountEntry) shared() bool {
	for _, o := range e.optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

// checkShared returns an error naming the fix when a source of an rshared mount of s lies on a
// mount that is not shared: kubelet's volume mounts would then stay inside its container.
// mountinfo is the text of /proc/self/mountinfo; sources that do not exist yet are checked at the
// nearest existing parent, which is where they will be created.
func checkShared(s Spec, mountinfo string) error {
	entries, err := parseMountinfo(mountinfo)
	if err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if m.Propagation != RShared {
			continue
		}
		e, ok := mountOf(entries, m.Source)
		if !ok {
			return fmt.Errorf("no mount holds %s", m.Source)
		}
		if !e.shared() {
			return fmt.Errorf("%s is on mount %s, which is not shared: mounts kubelet makes there would not reach the container runtime. "+
				"Make it shared with `mount --make-rshared %s` (systemd does this for / at boot; persist it in your init system)",
				m.Source, e.mountPoint, e.mountPoint)
		}
	}
	return nil
}

// CheckSharedMounts is checkShared against this machine's /proc/self/mountinfo.
func CheckSharedMounts(s Spec) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	return checkShared(s, string(b))
}

// systemDirs are mount sources that exist on any Linux host; --print does not list them for
// mkdir.
var systemDirs = map[string]bool{"/dev": true, "/run": true, "/sys/fs/cgroup": true, "/lib/modules": true, "/boot": true}

// mountSourceDirs lists the directories the container's directory mounts need: runc, podman and
// `docker --mount` refuse a missing source, and docker -v would create only some. File mounts are
// never created (they are optional and skipped when absent).
func mountSourceDirs(s Spec) []string {
	var dirs []string
	for _, m := range s.Mounts {
		if !m.File && !systemDirs[m.Source] {
			dirs = append(dirs, path.Clean(m.Source))
		}
		if path.Clean(m.Source) == KubernetesDir && path.Clean(m.Destination) == KubernetesDir {
			dirs = append(dirs, StaticPodDir)
		}
	}
	return dirs
}

// createMountSources creates mountSourceDirs.
func createMountSources(s Spec) error {
	for _, d := range mountSourceDirs(s) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating mount source: %w", err)
		}
	}
	return nil
}
