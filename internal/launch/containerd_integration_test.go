//go:build integration

package launch

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/restart"
	"github.com/containerd/typeurl/v2"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/ckubelet/ckubelet/internal/containerdtest"
)

// probeSource is the test image: it reports what a kubelet would see of its container — its
// namespaces, capabilities, limits and the propagation of its mounts — and, like kubelet with a
// secret volume, mounts a tmpfs under the kubelet directory and writes into it.
const probeSource = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "exit":
		fmt.Println("probe exiting", os.Args[2])
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	case "report":
		report(os.Args[2])
	case "serve":
		dir := os.Args[2]
		report(dir)
		vol := filepath.Join(dir, "pods", "vol")
		if err := os.MkdirAll(vol, 0o755); err != nil {
			fmt.Println("error", err)
		}
		if _, ok := mounts()[vol]; !ok {
			if err := syscall.Mount("tmpfs", vol, "tmpfs", 0, "size=1m"); err != nil {
				fmt.Println("error mount", err)
			}
		}
		if err := os.WriteFile(filepath.Join(vol, "hello"), []byte("from the container"), 0o644); err != nil {
			fmt.Println("error", err)
		}
		fmt.Println("mounted")
		time.Sleep(time.Hour)
	}
}

// mounts maps each mount point to "optional fields|mount options" (the last mount on a point).
func mounts() map[string]string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		var opt []string
		for _, o := range f[6:] {
			if o == "-" {
				break
			}
			opt = append(opt, o)
		}
		m[f[4]] = strings.Join(opt, ",") + "|" + f[5]
	}
	return m
}

func report(dir string) {
	fmt.Printf("start pid=%d\n", os.Getpid())
	var ns []string
	for _, n := range []string{"net", "pid", "uts", "ipc", "mnt"} {
		l, _ := os.Readlink("/proc/self/ns/" + n)
		ns = append(ns, n+"="+l)
	}
	fmt.Println("ns " + strings.Join(ns, " "))
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			fmt.Println("capeff=" + strings.TrimSpace(v))
		}
	}
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	fmt.Printf("nofile=%d\n", rl.Max)
	host, _ := os.Hostname()
	fmt.Println("hostname=" + host)
	id, _ := os.ReadFile("/etc/machine-id")
	fmt.Println("machine-id=" + strings.TrimSpace(string(id)))
	m := mounts()
	for _, p := range []string{"/", dir, "/run", "/lib/modules", "/etc/machine-id", "/dev"} {
		fmt.Printf("mount %s|%s\n", p, m[p])
	}
}
`

// probeImage builds the probe for the host and writes it as a docker archive named ref.
func probeImage(t *testing.T, ref, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(src, "probe")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "main.go")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: "probe", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg})
	tw.Write(exe)
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = []string{"/probe"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "probe.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	return archive
}

// sharedRoot makes a directory that stands for a systemd host's shared /: a bind mount of itself,
// made rshared. Cleanup unmounts everything below it (the container's propagated mounts too).
func sharedRoot(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "ckubelet-launch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountBelow(t, root)
		os.RemoveAll(root)
	})
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", root, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	return root
}

func unmountBelow(t *testing.T, dir string) {
	var points []string
	for _, e := range hostMounts(t) {
		if under(e.mountPoint, dir) {
			points = append(points, e.mountPoint)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			t.Errorf("unmounting %s: %v", p, err)
		}
	}
}

func hostMounts(t *testing.T) []mountEntry {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	es, err := parseMountinfo(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// peerGroup returns the "shared:N" of the mount at point on the host.
func peerGroup(t *testing.T, point string) string {
	var g string
	for _, e := range hostMounts(t) {
		if e.mountPoint == point {
			g = ""
			for _, o := range e.optional {
				if strings.HasPrefix(o, "shared:") {
					g = o
				}
			}
		}
	}
	return g
}

// remap moves every host path of s but /dev and /sys/fs/cgroup under root, so the test creates
// nothing on the host, and creates them.
func remap(t *testing.T, s Spec, root string) Spec {
	t.Helper()
	s.Mounts = slices.Clone(s.Mounts)
	for i, m := range s.Mounts {
		if m.Source == "/dev" || m.Source == "/sys/fs/cgroup" {
			continue
		}
		m.Source = filepath.Join(root, m.Source)
		if m.File {
			os.MkdirAll(filepath.Dir(m.Source), 0o755)
			os.WriteFile(m.Source, []byte("0123456789abcdef0123456789abcdef\n"), 0o444)
		} else if err := os.MkdirAll(m.Source, 0o755); err != nil {
			t.Fatal(err)
		}
		s.Mounts[i] = m
	}
	return s
}

// probeReport is the probe's output, by key.
type probeReport map[string]string

func parseReport(out string) probeReport {
	r := probeReport{}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "mount "):
			p, v, _ := strings.Cut(strings.TrimPrefix(line, "mount "), "|")
			r["mount "+p] = v
		case strings.HasPrefix(line, "ns "):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ns ")) {
				k, v, _ := strings.Cut(kv, "=")
				r["ns "+k] = v
			}
		default:
			if k, v, ok := strings.Cut(line, "="); ok {
				r[k] = v
			}
		}
	}
	return r
}

// waitLog waits until the log holds n lines with marker.
func waitLog(t *testing.T, log, marker string, n int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(log)
		if strings.Count(string(b), marker) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in %s after %v:\n%s", n, marker, log, timeout, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func removeCgroup(t *testing.T, parent string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", parent))
	for _, d := range dirs {
		children, _ := filepath.Glob(filepath.Join(d, "*", "cgroup.procs"))
		for _, c := range children {
			syscall.Rmdir(filepath.Dir(c))
		}
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Logf("removing cgroup %s: %v", d, err)
		}
	}
}

func TestContainerdLauncher(t *testing.T) {
	d := containerdtest.Start(t)
	const ref = "ckubelet.test/launch-probe:v1"
	d.Import(t, probeImage(t, ref, t.TempDir()))
	root := sharedRoot(t)
	logFile := filepath.Join(root, "log", "kubelet.log")
	cgroupParent := fmt.Sprintf("/ckubelet-launch-test-%d", os.Getpid())
	t.Cleanup(func() { removeCgroup(t, cgroupParent) })

	ctx := namespaces.WithNamespace(context.Background(), containerdtest.Namespace)
	// runc state, FIFOs and cgroups of the test's own, not the host's.
	copts := ContainerdOptions{Address: d.Address(), Namespace: containerdtest.Namespace, Snapshotter: d.Snapshotter(),
		LogFile: logFile, CgroupParent: cgroupParent, RuncRoot: filepath.Join(root, "runc"), FIFODir: filepath.Join(root, "fifo")}
	c, err := ConnectContainerd(ctx, copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	// Every optional mount, from files remap creates.
	kubelet := remap(t, KubeletSpec(KubeletOptions{Name: "kubelet-test", Image: ref, CRI: CRIs["containerd"],
		Args: []string{"serve", KubeletDir}, Exists: func(string) bool { return true }}), root)
	// Registered after containerdtest's cleanup, so it runs first, while the daemon is up: without
	// its restart labels the monitor cannot resurrect the task during teardown.
	t.Cleanup(func() {
		if err := c.Remove(context.Background(), kubelet.Name); err != nil {
			t.Errorf("Remove: %v", err)
		}
	})
	if err := checkShared(kubelet, readMountinfo(t)); err != nil {
		t.Fatalf("the test's shared root is not shared: %v", err)
	}

	pid, err := c.Start(ctx, kubelet, false)
	if err != nil {
		t.Fatal(err)
	}
	out := waitLog(t, logFile, "mounted", 1, 30*time.Second)
	t.Logf("task pid %d; probe:\n%s", pid, out)
	r := parseReport(out)

	t.Run("host namespaces", func(t *testing.T) {
		for _, ns := range []string{"net", "pid", "uts", "ipc"} {
			host, _ := os.Readlink("/proc/self/ns/" + ns)
			if r["ns "+ns] != host {
				t.Errorf("%s namespace %s, host's %s", ns, r["ns "+ns], host)
			}
		}
		if host, _ := os.Readlink("/proc/self/ns/mnt"); r["ns mnt"] == host {
			t.Error("shares the host's mount namespace")
		}
		if h, _ := os.Hostname(); r["hostname"] != h {
			t.Errorf("hostname %q, host's %q", r["hostname"], h)
		}
		if r["start pid"] != strconv.Itoa(int(pid)) {
			t.Errorf("probe pid %s, task pid %d: not in the host PID namespace", r["start pid"], pid)
		}
	})

	t.Run("privileged", func(t *testing.T) {
		caps, err := strconv.ParseUint(r["capeff"], 16, 64)
		if err != nil || caps&(1<<21) == 0 {
			t.Errorf("CapEff %s: no CAP_SYS_ADMIN", r["capeff"])
		}
		var rl syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		if rl.Max > 1024 && r["nofile"] == "1024" {
			t.Errorf("open files capped at 1024 (containerd's default spec)")
		}
	})

	t.Run("rootfs propagation shared", func(t *testing.T) {
		// runc applies rootfsPropagation to the mount tree it builds the container from, which
		// keeps the binds peers of the host's mounts: the subtests "kubelet's mount reaches the
		// host" and its negative control "without rootfs propagation ..." prove that it matters.
		// Only runc releases with opencontainers/runc#4724 (2025) also make the final / shared.
		cont, err := c.client.LoadContainer(ctx, kubelet.Name)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := cont.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sp.Linux == nil || sp.Linux.RootfsPropagation != "rshared" {
			t.Errorf("the container's rootfsPropagation is %q, want rshared", sp.Linux.RootfsPropagation)
		}
		t.Logf("/ in the container: %q", r["mount /"])
	})

	t.Run("kubelet dir rshared, in the host's peer group", func(t *testing.T) {
		group := peerGroup(t, root)
		opt, _, _ := strings.Cut(r["mount "+KubeletDir], "|")
		if group == "" || !slices.Contains(strings.Split(opt, ","), group) {
			t.Errorf("%s in the container: %q; the host's source is %q", KubeletDir, r["mount "+KubeletDir], group)
		}
	})

	t.Run("kubelet's mount reaches the host", func(t *testing.T) {
		hostVol := filepath.Join(root, KubeletDir, "pods", "vol")
		b, err := os.ReadFile(filepath.Join(hostVol, "hello"))
		if err != nil || string(b) != "from the container" {
			t.Fatalf("host reads %q, %v", b, err)
		}
		found := false
		for _, e := range hostMounts(t) {
			found = found || e.mountPoint == hostVol
		}
		if !found {
			t.Errorf("no mount at %s on the host", hostVol)
		}
	})

	t.Run("without rootfs propagation kubelet's mounts stay in its container", func(t *testing.T) {
		// What the original project hit with an unpatched ctr: the rshared bind alone does not
		// propagate, because runc makes the tree it binds from a slave of the host.
		s := kubelet
		s.Name, s.RootfsPropagation, s.Restart = "kubelet-noprop", PropagationDefault, RestartNo
		s.Mounts = slices.Clone(s.Mounts)
		src := filepath.Join(root, "noprop", KubeletDir)
		os.MkdirAll(src, 0o755)
		s.Mounts[0].Source = src // /var/lib/kubelet
		nopts := copts
		nopts.LogFile = filepath.Join(root, "log", "noprop.log")
		nc, err := ConnectContainerd(ctx, nopts)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		defer nc.Remove(context.Background(), s.Name)
		if _, err := nc.Start(ctx, s, false); err != nil {
			t.Fatal(err)
		}
		out := waitLog(t, filepath.Join(root, "log", "noprop.log"), "mounted", 1, 30*time.Second)
		t.Logf("%s in the container without rootfs propagation: %s", KubeletDir, parseReport(out)["mount "+KubeletDir])
		if b, err := os.ReadFile(filepath.Join(src, "pods", "vol", "hello")); err == nil {
			t.Errorf("the host sees %q: propagated without rootfs propagation", b)
		}
	})

	t.Run("rslave and ro mounts", func(t *testing.T) {
		if opt, _, _ := strings.Cut(r["mount /run"], "|"); !strings.Contains(opt, "master:") {
			t.Errorf("/run: %q, want a slave (master:N)", r["mount /run"])
		}
		for _, p := range []string{"/lib/modules", "/etc/machine-id"} {
			if _, opts, _ := strings.Cut(r["mount "+p], "|"); !strings.HasPrefix(opts, "ro") {
				t.Errorf("%s: %q, want read-only", p, r["mount "+p])
			}
		}
		if r["machine-id"] != "0123456789abcdef0123456789abcdef" {
			t.Errorf("machine-id %q", r["machine-id"])
		}
		if r["mount /dev"] == "" {
			t.Error("/dev not mounted")
		}
	})

	t.Run("restart labels", func(t *testing.T) {
		cont, err := c.client.LoadContainer(ctx, kubelet.Name)
		if err != nil {
			t.Fatal(err)
		}
		labels, err := cont.Labels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{restart.StatusLabel: "running", restart.PolicyLabel: "always",
			restart.LogURILabel: "file://" + logFile, LauncherLabel: "ckubelet"} {
			if labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, labels[k], v)
			}
		}
	})

	t.Run("image pinned against kubelet's image GC", func(t *testing.T) {
		c.pin(ctx, ref) // Start pins only in k8s.io
		img, err := c.image(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if l := img.Labels()[pinnedLabel]; l != "pinned" {
			t.Errorf("label %s = %q", pinnedLabel, l)
		}
	})

	t.Run("restart monitor restarts a killed task", func(t *testing.T) {
		cont, err := c.client.LoadContainer(ctx, kubelet.Name)
		if err != nil {
			t.Fatal(err)
		}
		task, err := cont.Task(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		// The monitor reconciles every 10 s by default.
		out := waitLog(t, logFile, "mounted", 2, 45*time.Second)
		task, err = cont.Task(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if task.Pid() == pid {
			t.Errorf("same pid %d after the restart", pid)
		}
		labels, _ := cont.Labels(ctx)
		t.Logf("restarted after %v as pid %d (restart count %s)", time.Since(began).Round(time.Second), task.Pid(), labels[restart.CountLabel])
		_ = out
	})

	t.Run("existing container", func(t *testing.T) {
		if _, err := c.Start(ctx, kubelet, false); err == nil || !strings.Contains(err.Error(), "pass --replace") {
			t.Errorf("Start over an existing container: %v", err)
		}
		newPid, err := c.Start(ctx, kubelet, true)
		if err != nil {
			t.Fatalf("Start --replace: %v", err)
		}
		waitLog(t, logFile, "mounted", 3, 30*time.Second)
		if newPid == pid {
			t.Errorf("replace kept pid %d", pid)
		}
	})

	t.Run("missing image", func(t *testing.T) {
		s := kubelet
		s.Name, s.Image = "missing", "ckubelet.test/nope:v0"
		_, err := c.Start(ctx, s, false)
		want := "image ckubelet.test/nope:v0 not found in containerd namespace ckubelet: import it with ctr -n ckubelet images import FILE"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v, want %s", err, want)
		}
	})

	t.Run("one-shot", func(t *testing.T) {
		for _, code := range []int{0, 3} {
			s := Spec{Name: "oneshot", Image: ref, Entrypoint: []string{"/probe", "exit"}, Args: []string{strconv.Itoa(code)},
				HostNetwork: true, Privileged: true, Remove: true}
			var stdout bytes.Buffer
			err := c.RunOnce(ctx, s, &stdout, io.Discard)
			var exit *ExitError
			switch {
			case code == 0 && err != nil, code != 0 && (!errors.As(err, &exit) || exit.Code != code):
				t.Errorf("exit %d: err = %v", code, err)
			}
			if want := fmt.Sprintf("probe exiting %d\n", code); stdout.String() != want {
				t.Errorf("output %q, want %q", stdout.String(), want)
			}
			if _, err := c.client.LoadContainer(ctx, "oneshot"); err == nil {
				t.Errorf("one-shot container left behind")
			}
		}
	})

	t.Run("printed ctr commands create the container the Go client creates", func(t *testing.T) {
		s := kubelet
		s.Name = "kubelet-same"
		sopts := copts
		sopts.LogFile = filepath.Join(root, "log", "same.log")
		step := containerdStart{r: &containerdRuntime{opts: sopts}, spec: s, replace: true}
		x := &executor{stdout: io.Discard, stderr: io.Discard, containerdOpts: sopts}
		defer x.close()
		t.Cleanup(func() { c.Remove(context.Background(), s.Name) })

		script, err := step.Script(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if err := step.Do(ctx, x); err != nil {
			t.Fatal(err)
		}
		waitLog(t, sopts.LogFile, "mounted", 1, 30*time.Second)
		byClient := containerRecord(t, ctx, c, s.Name)
		if err := c.Remove(ctx, s.Name); err != nil {
			t.Fatal(err)
		}

		sh := exec.CommandContext(ctx, "sh", "-ec", script)
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("the printed commands failed: %v\n%s\n%s", err, script, out)
		}
		waitLog(t, sopts.LogFile, "mounted", 2, 30*time.Second)
		byScript := containerRecord(t, ctx, c, s.Name)

		// What ctr cannot do, said in the script too (ctrRlimitNote), and what only differs in
		// form: ctr --privileged lists the host's device nodes, which the /dev bind provides
		// anyway; ctr joins the host's namespaces by path (/proc/self/ns/*, runc's own, which are
		// containerd's), the Go client by leaving them out.
		if byClient.Spec.Process.Rlimits != nil {
			t.Errorf("the Go client sets rlimits %+v", byClient.Spec.Process.Rlimits)
		}
		if rl := byScript.Spec.Process.Rlimits; len(rl) != 1 || rl[0].Type != "RLIMIT_NOFILE" || rl[0].Hard != 1024 {
			t.Errorf("ctr's rlimits: %+v, want containerd's default RLIMIT_NOFILE 1024 (update ctrRlimitNote)", rl)
		}
		if !strings.Contains(script, ctrRlimitNote) {
			t.Error("the script does not say what ctr cannot do")
		}
		byScript.Spec.Process.Rlimits = nil
		// ctr also copies the image record's labels (the pinned label) onto the container,
		// and ctr 1.6 stamps its own OCI spec version.
		img, err := c.image(ctx, s.Image)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range img.Labels() {
			if byScript.Labels[k] == v {
				delete(byScript.Labels, k)
			}
		}
		byScript.Spec.Version = byClient.Spec.Version
		byScript.Spec.Linux.Devices, byClient.Spec.Linux.Devices = nil, nil
		for _, rec := range []*containerInfo{&byClient, &byScript} {
			rec.Spec.Linux.Namespaces = slices.DeleteFunc(rec.Spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
				return ns.Path == "/proc/self/ns/"+string(ns.Type)
			})
			rec.Spec.Mounts = effectiveMounts(rec.Spec.Mounts)
		}
		a, _ := json.MarshalIndent(byClient, "", "  ")
		b, _ := json.MarshalIndent(byScript, "", "  ")
		if !bytes.Equal(a, b) {
			t.Errorf("the Go client's container:\n%s\nthe printed commands':\n%s", a, b)
		}
	})
}

// containerInfo is what makes a container: its image, labels, runtime and OCI spec.
type containerInfo struct {
	Image, Snapshotter, Runtime string
	RuntimeOptions              string
	Labels                      map[string]string
	Spec                        *oci.Spec
}

func containerRecord(t *testing.T, ctx context.Context, c *ContainerdClient, name string) containerInfo {
	t.Helper()
	cont, err := c.client.LoadContainer(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cont.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := cont.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	labels := maps.Clone(info.Labels)
	delete(labels, restart.CountLabel)
	rec := containerInfo{Image: info.Image, Snapshotter: info.Snapshotter, Runtime: info.Runtime.Name, Labels: labels, Spec: sp}
	if info.Runtime.Options != nil {
		v, err := typeurl.UnmarshalAny(info.Runtime.Options)
		if err != nil {
			t.Fatal(err)
		}
		rec.RuntimeOptions = fmt.Sprintf("%+v", v)
	}
	return rec
}

// effectiveMounts drops mounts a later mount covers (its destination at or below a later
// destination): the container never sees them.
func effectiveMounts(ms []specs.Mount) []specs.Mount {
	var out []specs.Mount
	for i, m := range ms {
		covered := slices.ContainsFunc(ms[i+1:], func(l specs.Mount) bool { return under(m.Destination, l.Destination) })
		if !covered {
			out = append(out, m)
		}
	}
	return out
}

func readMountinfo(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
