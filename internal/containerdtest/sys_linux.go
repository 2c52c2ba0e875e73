package containerdtest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// daemonSysProcAttr makes the kernel kill containerd if the test binary dies (a `go test` timeout
// or ^C skips t.Cleanup), rather than leaving a daemon behind. (The signal follows the OS thread
// that started containerd; Go only ends a thread when a goroutine exits locked to it, which tests
// don't do.)
func daemonSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// unmountUnder lazily unmounts every mount point at or below dir, deepest first, so that removing
// dir cannot descend into a container's rootfs or a snapshot still mounted after a crash.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; octal escapes (\040) only for odd names, not ours.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if mp := fields[4]; mp == dir || strings.HasPrefix(mp, dir+string(filepath.Separator)) {
			points = append(points, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points))) // children sort after their parents
	var failed []string
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			failed = append(failed, fmt.Sprintf("%s: %v", mp, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("unmounting under %s: %s", dir, strings.Join(failed, "; "))
	}
	return nil
}

// removeCgroups removes the cgroup directory parent (e.g. "/containerdtest-123") from every
// hierarchy: all of them on cgroup v1 or hybrid, the single tree on v2. runc removed the
// containers' own cgroups below it; a cgroup directory is removed with rmdir, not os.RemoveAll.
func removeCgroups(parent string) error {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", parent))
	var failed []string
	for _, dir := range dirs {
		// Leftover children first (a container killed before runc could remove its cgroup).
		children, _ := filepath.Glob(filepath.Join(dir, "*", "cgroup.procs"))
		for _, c := range children {
			syscall.Rmdir(filepath.Dir(c))
		}
		if err := syscall.Rmdir(dir); err != nil && err != syscall.ENOENT {
			failed = append(failed, fmt.Sprintf("%s: %v", dir, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("removing cgroups: %s", strings.Join(failed, "; "))
	}
	return nil
}

// killShims kills the shims this daemon started: they carry its socket in their command line.
// Each shim listens on a socket in /run/containerd/s (fixed in 1.6), named in its bundle's
// "address" file; removed here too since a killed shim leaves it.
func (d *Daemon) killShims(t testing.TB) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" || !containsPair(args, "-address", d.address) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		t.Logf("containerdtest: killing leftover shim %d", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	addrFiles, _ := filepath.Glob(filepath.Join(d.dir, "state", "io.containerd.runtime.v2.task", "*", "*", "address"))
	for _, f := range addrFiles {
		if b, err := os.ReadFile(f); err == nil {
			sock := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")
			if strings.HasPrefix(sock, "/run/containerd/s/") {
				os.Remove(sock)
			}
		}
	}
}

func containsPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}
