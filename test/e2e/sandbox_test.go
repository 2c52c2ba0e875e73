//go:build e2e || conformance || vm

package e2e

// The node runs in a sandbox of its own: new mount, network, PID, UTS and IPC namespaces, set up by
// the test binary re-executed as the sandbox's init (PID 1). Inside, the node's well-known paths
// (/var/lib/kubelet, /etc/kubernetes, /etc/cni/net.d, /opt/cni/bin, /var/lib/containerd,
// /var/log/pods, …) are bind mounts of directories in the test's work dir, /run is a tmpfs, / is
// rshared as on a systemd host, and the network has a node address and a default route but no way
// out. So everything the node does — containerd, the kubelet container, pods, CNI's bridge and
// veths, kube-proxy's and kubelet's iptables and nftables rules, mounts of volumes — happens where
// the host does not see it, and the kernel discards it when the sandbox's last process exits: a
// crash or a killed test cannot leave rules, links or mounts on a shared CI machine. What the
// namespaces cannot isolate is cleaned and checked from the host: cgroups (kubelet's cgroupRoot
// and the runtime's), the mount-point directories created on the host, processes.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the re-executed test binary.
const (
	stageEnv = "CKUBELET_E2E_STAGE" // "init" (the sandbox's PID 1) or "node" (the test inside)
	stateEnv = "CKUBELET_E2E_STATE" // path of the state file the host stage wrote
)

// The sandbox's network: a node address on a veth pair whose peer stays inside (no way out), and
// a default route through it, which kubelet and kube-proxy need to pick the node IP.
const (
	nodeName    = "ckubelet-e2e-node"
	nodeIP      = "10.240.0.2"
	nodeGateway = "10.240.0.1"
	podCIDR     = "10.244.0.0/16"
	nodePodCIDR = "10.244.0.0/24" // the bridge's host-local range, and what the controller manager allocates first
	serviceCIDR = "10.96.0.0/12"
)

// state is what the host stage hands to the sandbox: where everything is.
type state struct {
	Dir        string // work dir: everything of this run lives here
	CgroupRoot string // kubelet's cgroupRoot, unique per run
	Version    string // Kubernetes version

	ImagesArchive string // docker-archive of the kubeadm-cni, kube-proxy and pause images
	PodArchive    string // docker-archive of the test workload image
	KubeletImage  string // references as containerd names them after import
	KubeProxy     string
	Pause         string
	PodImage      string

	Bin map[string]string // etcd, kube-apiserver, kube-controller-manager, kube-scheduler

	// Conformance is what the conformance run adds (conformance_test.go).
	Conformance *conformanceState `json:",omitempty"`

	// MountPoints are node paths that did not exist on the host and were created as mount
	// points; the host stage removes them afterwards.
	MountPoints []string
}

func (s *state) path(elem ...string) string {
	return filepath.Join(append([]string{s.Dir}, elem...)...)
}

// nodeDirs are the node's well-known directories; in the sandbox each is a bind mount of its
// backing directory in the work dir.
var nodeDirs = []string{
	"/var/lib/kubelet",
	"/var/lib/containerd",
	"/var/lib/cni",
	"/etc/kubernetes",
	"/etc/cni/net.d",
	"/opt/cni/bin",
	"/var/log/pods",
	"/var/log/containers",
}

// conformanceState is what the host stage hands the sandbox for the conformance run.
type conformanceState struct {
	E2ETest, Ginkgo   string
	TestImagesArchive string // docker-archive of the test images, named as pushed
	ReportDir         string // out/conformance of the repository
	Focus             string
	Procs             int
	Modes             []string
}

// backing is the work-dir directory behind a node directory: /var/lib/kubelet → DIR/node/var-lib-kubelet.
func (s *state) backing(nodeDir string) string {
	return s.path("node", strings.ReplaceAll(strings.TrimPrefix(nodeDir, "/"), "/", "-"))
}

// hostPathDir is the directory the test pod mounts as a hostPath volume; it is under the work dir
// so that the host sees (and removes) it, and passed to the kubelet container with --mount.
func (s *state) hostPathDir() string { return s.path("hostpath") }

func writeState(s *state) (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	p := s.path("state.json")
	return p, os.WriteFile(p, b, 0o644)
}

func readState() (*state, error) {
	b, err := os.ReadFile(os.Getenv(stateEnv))
	if err != nil {
		return nil, err
	}
	var s state
	return &s, json.Unmarshal(b, &s)
}

// prepareHostDirs creates the backing directories and, on the host, the mount points that are
// missing, recording the latter for removal.
func prepareHostDirs(s *state) error {
	for _, d := range nodeDirs {
		if err := os.MkdirAll(s.backing(d), 0o755); err != nil {
			return err
		}
		created, err := mkdirAllRecord(d)
		if err != nil {
			return err
		}
		s.MountPoints = append(s.MountPoints, created...)
	}
	if err := os.MkdirAll(s.hostPathDir(), 0o755); err != nil {
		return err
	}
	for name, data := range map[string]string{
		"hosts": fmt.Sprintf("127.0.0.1 localhost\n::1 localhost\n%s %s\n", nodeIP, nodeName),
		// No resolver in the sandbox: fail at once instead of timing out.
		"resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
	} {
		if err := os.WriteFile(s.path("node", name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAllRecord is os.MkdirAll returning the directories it created, outermost first.
func mkdirAllRecord(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append([]string{d}, missing...)
		if d == "/" {
			break
		}
	}
	return missing, os.MkdirAll(dir, 0o755)
}

// removeHostDirs removes the mount points prepareHostDirs created, innermost first, if empty.
func removeHostDirs(t *testing.T, s *state) {
	dirs := slices.Clone(s.MountPoints)
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT {
			t.Errorf("host: mount point %s left behind: %v", d, err)
		}
	}
}

// readyLine is what the node stage prints when the node is Ready; the host stage repeats it.
var readyLine = regexp.MustCompile(`^node \S+ Ready after `)

// runSandbox runs the node stage in new namespaces and relays its output; it returns an error if
// the node stage fails.
func runSandbox(t *testing.T, s *state, statePath string, timeout time.Duration) error {
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1", "-test.timeout=0"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), stageEnv+"=init", stateEnv+"="+statePath)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		// If the test binary dies (a go test timeout, ^C), the kernel kills the sandbox's init,
		// and with it every process of the sandbox.
		Pdeathsig: syscall.SIGKILL,
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logFile, err := os.Create(s.path("node.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			fmt.Fprintf(os.Stdout, "    node| %s\n", sc.Text())
			fmt.Fprintln(logFile, sc.Text())
			if readyLine.MatchString(sc.Text()) {
				t.Log(sc.Text())
			}
		}
		io.Copy(io.Discard, pr)
	}()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the sandbox: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(timeout):
		t.Errorf("the node stage did not finish in %v: stopping it", timeout)
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case werr = <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			werr = <-done
		}
	}
	<-relayed
	if werr != nil {
		return fmt.Errorf("node stage failed: %v (its output is above, and in %s)", werr, s.path("node.log"))
	}
	return nil
}

// sandboxInit is the sandbox's PID 1: it sets the namespaces up, runs the node stage as its child,
// reaps every orphan (containerd's shims reparent to it), and when the node stage exits, kills
// whatever is left. Its exit code is the node stage's.
func sandboxInit() int {
	s, err := readState()
	if err == nil {
		err = setupSandbox(s)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e sandbox: %v\n", err)
		return 3
	}
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, stageEnv+"=") })
	env = append(env, stageEnv+"=node")
	child, err := os.StartProcess(os.Args[0], os.Args, &os.ProcAttr{Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e sandbox: starting the node stage: %v\n", err)
		return 3
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for sig := range sigs {
			child.Signal(sig)
		}
	}()
	code := 3
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			break
		}
		if pid == child.Pid {
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			break
		}
	}
	// Everything else in the PID namespace; the node stage should have stopped it all already.
	if left := processes(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e sandbox: killing processes left behind: %s\n", strings.Join(left, "; "))
		if code == 0 {
			code = 4
		}
	}
	syscall.Kill(-1, syscall.SIGKILL)
	for {
		if _, err := syscall.Wait4(-1, nil, 0, nil); err == syscall.ECHILD || (err != nil && err != syscall.EINTR) {
			break
		}
	}
	return code
}

// processes lists the other processes of this PID namespace as "PID COMMAND".
func processes() []string {
	var out []string
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue // exited, or a zombie
		}
		out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")))
	}
	return out
}

// setupSandbox prepares the namespaces this process was started in (see the top of this file).
func setupSandbox(s *state) error {
	steps := []struct {
		what string
		fn   func() error
	}{
		// Nothing mounted from here on reaches the host.
		{"make / rprivate", func() error { return syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, "") }},
		{"mount /proc of the new PID namespace", func() error {
			return syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "")
		}},
		// A sysfs of the new network namespace (/sys/class/net lists its links), keeping the
		// cgroup hierarchies mounted below /sys/fs/cgroup.
		{"mount /sys of the new network namespace", func() error {
			keep := s.path("sandbox", "cgroup")
			if err := os.MkdirAll(keep, 0o755); err != nil {
				return err
			}
			if err := syscall.Mount("/sys/fs/cgroup", keep, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
				return err
			}
			if err := syscall.Mount("sysfs", "/sys", "sysfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
				return err
			}
			return syscall.Mount(keep, "/sys/fs/cgroup", "", syscall.MS_MOVE, "")
		}},
		// containerd's state and socket, shim sockets, runc's state, CNI's network namespaces,
		// the xtables lock: all under /run, all private to the sandbox.
		{"mount a tmpfs on /run", func() error {
			if err := syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=755"); err != nil {
				return err
			}
			return os.MkdirAll("/run/lock", 0o755)
		}},
		{"bind the node's directories", func() error {
			for _, d := range nodeDirs {
				if err := syscall.Mount(s.backing(d), d, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
					return fmt.Errorf("%s: %w", d, err)
				}
			}
			for _, f := range []string{"hosts", "resolv.conf"} {
				if err := syscall.Mount(s.path("node", f), "/etc/"+f, "", syscall.MS_BIND, ""); err != nil {
					return fmt.Errorf("/etc/%s: %w", f, err)
				}
			}
			return nil
		}},
		// As systemd does at boot: kubelet's rshared /var/lib/kubelet needs a shared mount.
		{"make / rshared", func() error { return syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_SHARED, "") }},
		{"set the host name", func() error { return syscall.Sethostname([]byte(nodeName)) }},
		{"configure the network", func() error {
			for _, args := range [][]string{
				{"link", "set", "lo", "up"},
				{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"},
				{"addr", "add", nodeIP + "/24", "dev", "eth0"},
				{"link", "set", "eth0", "up"},
				{"link", "set", "eth0-peer", "up"},
				{"route", "add", "default", "via", nodeGateway},
			} {
				if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
				}
			}
			// What a node's administrator sets for Kubernetes networking (kubeadm's preflight
			// checks both); per network namespace.
			for p, v := range map[string]string{
				"/proc/sys/net/ipv4/ip_forward":                 "1",
				"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
				"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
			} {
				if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// mountsUnder lists the mount points of /proc/self/mountinfo at or below any of dirs.
func mountsUnder(dirs ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, strings.TrimSuffix(d, "/")+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	return out
}

// unmountUnder lazily unmounts every mount below dir, deepest first. A mount at dir itself
// stays: in the sandbox it is the bind mount that keeps the node's files off the host's
// directory (unmounting it once sent the second launch mode's kubelet state to the host).
func unmountUnder(dir string) []string {
	points := slices.DeleteFunc(mountsUnder(dir), func(mp string) bool { return mp == dir })
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var failed []string
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			failed = append(failed, fmt.Sprintf("%s: %v", mp, err))
		}
	}
	return failed
}
