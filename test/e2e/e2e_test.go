//go:build e2e || conformance || vm

// Package e2e proves, entirely on this machine, that a containerized kubelet from ckubelet's images
// joins a cluster with kubeadm's TLS bootstrap, becomes a Ready node, and runs pods with volumes
// behind a Service that kube-proxy, from ckubelet's image too, serves.
//
// The test binary runs in three stages (see sandbox_test.go):
//   - host: builds every image and binary, prepares the work dir, runs the sandbox, then checks
//     and cleans what the sandbox cannot isolate (cgroups, mount-point directories, processes);
//   - init: PID 1 of the sandbox's namespaces;
//   - node: inside the sandbox, containerd with CRI, the control plane, the join, the workloads.
//
// Run as root: go test -tags e2e -v ./test/e2e/ (needs containerd, runc, ip and the network
// access of the integration tests, to build).
package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testVersion is pinned so that the suite does not change when upstream releases.
const testVersion = "v1.37.2"

// keepEnv keeps the work dir (state, logs of every component, kubelet's and containerd's
// directories): "1" when the test fails, "always" always.
const keepEnv = "CKUBELET_E2E_KEEP"

// nodeStageTimeout bounds the sandbox; the builds come before it.
const nodeStageTimeout = 30 * time.Minute

// coldRun is about how long a run with empty build caches takes on 2 cores; go test's default
// -timeout of 10m kills it (the go command enforces it, not only the test binary).
const coldRun = 40 * time.Minute

func TestMain(m *testing.M) {
	if os.Getenv(stageEnv) == "init" {
		os.Exit(sandboxInit())
	}
	os.Exit(m.Run())
}

// hostStage builds what the node stage needs (buildArtifacts, then more if extra is set), runs the
// sandbox for up to timeout, which re-runs this test (t.Name()) there as the node stage, and
// checks and cleans the host.
func hostStage(t *testing.T, timeout time.Duration, extra func(t *testing.T, s *state)) {
	checkPrerequisites(t)
	if d, ok := t.Deadline(); ok && time.Until(d) < coldRun {
		t.Logf("note: -timeout leaves %v; with cold build caches this test needs about %v on 2 cores (run it with -timeout 60m); with warm caches about 1m",
			time.Until(d).Round(time.Minute), coldRun)
	}
	unlock := lockMachine(t)
	defer unlock()
	cleanStaleRuns(t)
	began := time.Now()

	// Not t.TempDir: the sandbox's mounts refer to it, and it must survive until the host checks.
	dir, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	s := &state{Dir: dir, CgroupRoot: "/" + filepath.Base(dir), Version: testVersion, Bin: map[string]string{}}
	t.Cleanup(func() {
		if left := mountsUnder(dir); len(left) > 0 {
			t.Errorf("host: mounts left under %s, not removing it: %v", dir, left)
			return
		}
		if keep := os.Getenv(keepEnv); keep == "always" || (keep != "" && t.Failed()) {
			t.Logf("keeping %s with the logs of every component (%s=%s)", dir, keepEnv, keep)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("host: removing %s: %v", dir, err)
		}
	})

	buildArtifacts(t, s)
	if extra != nil {
		extra(t, s)
	}
	built := time.Now()

	// The state file first, then again with the mount points: a run killed from here on is
	// cleaned up by the next one (cleanStaleRuns).
	if _, err := writeState(s); err != nil {
		t.Fatal(err)
	}
	err = prepareHostDirs(s)
	t.Cleanup(func() { removeHostDirs(t, s) })
	statePath, werr := writeState(s)
	if err != nil || werr != nil {
		t.Fatal(errors.Join(err, werr))
	}
	cgroupsBefore := cgroupDirs()
	t.Cleanup(func() { removeCgroups(t, s.CgroupRoot, cgroupsBefore) })
	if err := createCgroupRoot(s.CgroupRoot); err != nil {
		t.Fatal(err)
	}
	before := snapshotHost()

	err = runSandbox(t, s, statePath, timeout)
	ran := time.Now()
	// Whatever happened inside, the host must be as it was.
	checkHost(t, s, before)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("e2e: builds %v, node stage %v, total %v", built.Sub(began).Round(time.Second), ran.Sub(built).Round(time.Second), time.Since(began).Round(time.Second))
}

// checkPrerequisites fails (never skips: a skipped e2e proves nothing) when the host lacks what
// the test needs.
func checkPrerequisites(t *testing.T) {
	t.Helper()
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "run as root (namespaces, mounts, containerd)")
	}
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "ip", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			problems = append(problems, bin+" not on PATH (hack/setup.sh installs containerd and runc)")
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2 would need no cgroupRoot preparation per controller; not this machine's case.
		t.Logf("note: cgroup v2 host")
	}
	if len(problems) > 0 {
		t.Fatalf("e2e prerequisites: %s", strings.Join(problems, "; "))
	}
}

// lockMachine serializes e2e runs on one machine: they share the host's cgroup tree and the
// mount-point directories, and two would not fit in 2 cores anyway.
func lockMachine(t *testing.T) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ckubelet-e2e.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("another e2e run holds %s: waiting", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	return func() { f.Close() }
}

// workDirPrefix names the work dirs of e2e runs in os.TempDir().
const workDirPrefix = "ckubelet-e2e-"

// cleanStaleRuns removes what runs killed before their cleanup left on the host: a go test
// -timeout panics without running t.Cleanup, and although the kernel then kills the sandbox and
// takes its namespaces away, the work dir, the mount-point directories and kubelet's cgroups stay.
// The caller holds the machine lock, so every work dir found belongs to a dead run.
func cleanStaleRuns(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), workDirPrefix+"*"))
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if left := mountsUnder(dir); len(left) > 0 {
			t.Logf("stale run %s still has mounts %v: leaving it", dir, left)
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
			var old state
			if json.Unmarshal(b, &old) == nil {
				if old.CgroupRoot != "" {
					for _, h := range cgroupHierarchies() {
						if err := rmdirTree(filepath.Join(h, old.CgroupRoot)); err != nil {
							t.Logf("stale run %s: %v", dir, err)
						}
					}
				}
				points := slices.Clone(old.MountPoints)
				slices.Sort(points)
				slices.Reverse(points) // innermost first
				for _, d := range points {
					if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT {
						t.Logf("stale run %s: mount point %s: %v", dir, d, err)
					}
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("stale run %s: %v", dir, err)
			continue
		}
		t.Logf("cleaned up after a run that was killed: %s", dir)
	}
}
