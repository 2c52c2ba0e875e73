//go:build e2e || conformance || vm

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// cgroupHierarchies lists the mounted cgroup hierarchies: each v1 controller's (and systemd's
// named one) on v1 and hybrid hosts, plus the unified one.
func cgroupHierarchies() []string {
	var out []string
	for _, mp := range mountsUnder("/sys/fs/cgroup") {
		if mp != "/sys/fs/cgroup" {
			out = append(out, mp)
		}
	}
	if len(out) == 0 {
		out = []string{"/sys/fs/cgroup"} // pure v2
	}
	return out
}

// createCgroupRoot creates kubelet's cgroupRoot in every hierarchy: kubelet requires it to exist.
// A new v1 cpuset starts with no CPUs and no memory nodes; it gets its parent's.
func createCgroupRoot(root string) error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, root)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// cgroupDirs lists the top-level cgroups of every hierarchy.
func cgroupDirs() map[string]bool {
	out := map[string]bool{}
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() {
				out[filepath.Join(h, e.Name())] = true
			}
		}
	}
	return out
}

// removeCgroups removes the run's cgroup root, deepest first (a cgroup is removed with rmdir,
// once its processes are gone): kubelet's kubepods, the pods' and the containers launch created
// are all below it. Other new top-level cgroups are reported: another test of this machine may
// own them.
func removeCgroups(t *testing.T, root string, before map[string]bool) {
	for dir := range cgroupDirs() {
		if !before[dir] && filepath.Base(dir) != filepath.Base(root) {
			t.Logf("host: a new top-level cgroup %s appeared during the run (not this test's: left alone)", dir)
		}
	}
	for _, h := range cgroupHierarchies() {
		if err := rmdirTree(filepath.Join(h, root)); err != nil {
			t.Errorf("host: cgroup left behind: %v", err)
		}
	}
}

func rmdirTree(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	var failed []string
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT {
			procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			failed = append(failed, fmt.Sprintf("%s: %v (processes: %s)", d, err, strings.Fields(string(procs))))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

// hostSnapshot is what the host's network looks like: links, iptables chains per backend and
// table, nftables tables.
type hostSnapshot map[string]bool

// nodeNetworkNames matches what a node's CNI, kubelet and kube-proxy create.
var nodeNetworkNames = regexp.MustCompile(`cni0|veth|KUBE-|CNI-|kube-proxy|kube-ipvs0|flannel`)

func snapshotHost() hostSnapshot {
	s := hostSnapshot{}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				s["link "+strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")] = true
			}
		}
	}
	for _, tool := range []string{"iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		out, err := exec.Command(tool).Output()
		if err != nil {
			continue
		}
		table := ""
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "*"):
				table = line[1:]
			case strings.HasPrefix(line, ":"):
				s[fmt.Sprintf("%s %s chain %s", tool, table, strings.Fields(line[1:])[0])] = true
			}
		}
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				s["nft "+line] = true
			}
		}
	}
	return s
}

// checkHost fails t for anything of the node visible on the host after the sandbox is gone.
func checkHost(t *testing.T, s *state, before hostSnapshot) {
	t.Helper()
	var added []string
	for k := range snapshotHost() {
		if !before[k] && nodeNetworkNames.MatchString(k) {
			added = append(added, k)
		}
	}
	slices.Sort(added)
	if len(added) > 0 {
		t.Errorf("host: network objects of the node left on the host: %v", added)
	}
	if left := mountsUnder(append([]string{s.Dir}, nodeDirs...)...); len(left) > 0 {
		t.Errorf("host: mounts left behind: %v", left)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s.Dir) {
			t.Errorf("host: process %s left behind: %s", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	t.Logf("host: no mounts, links, firewall rules or processes of the node left behind")
}
