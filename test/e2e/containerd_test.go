//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The node's containerd: Debian's 1.6 package with runc, at the standard paths inside the sandbox
// (/var/lib/containerd, /run/containerd/containerd.sock), with the CRI plugin enabled for kubelet.
const (
	containerdSocket = "/run/containerd/containerd.sock"
	criNamespace     = "k8s.io" // the containerd namespace of CRI's images and containers
)

// snapshotterEnv forces the snapshotter, as in internal/containerdtest.
const snapshotterEnv = "CKUBELET_CONTAINERD_SNAPSHOTTER"

type containerdDaemon struct {
	cmd         *exec.Cmd
	exited      chan struct{}
	log         string
	snapshotter string
}

// criConfig is containerd 1.6's configuration with CRI enabled:
//   - restrict_oom_score_adj: these machines lack CAP_SYS_RESOURCE, and CRI would otherwise set
//     a sandbox's oom_score_adj below our own, which the kernel refuses;
//   - the pause image is ours, imported, never pulled (there is no registry);
//   - cgroupfs driver (SystemdCgroup = false): systemd is not PID 1 here;
//   - CNI from the standard directories, which in the sandbox are the test's.
//
// The "opt" plugin is disabled because it would create /opt/containerd, which the sandbox shares
// with the host.
func criConfig(pauseImage, snapshotter string) string {
	return fmt.Sprintf(`version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.opt"]

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
`, containerdSocket, pauseImage, snapshotter)
}

// cniConfig is the pod network: a bridge with host-local addresses and masquerading, and portmap
// for hostPorts. CRI adds the loopback interface itself, with the loopback plugin.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "` + nodePodCIDR + `"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// startContainerd starts containerd with CRI, registers its stop, and returns when it answers.
func startContainerd(t *testing.T, s *state) *containerdDaemon {
	t.Helper()
	if err := os.WriteFile("/etc/cni/net.d/10-e2e.conflist", []byte(cniConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	snapshotter := os.Getenv(snapshotterEnv)
	if snapshotter == "" {
		snapshotter = "overlayfs"
	}
	c, err := runContainerd(s, snapshotter)
	if err == nil && os.Getenv(snapshotterEnv) == "" {
		// As internal/containerdtest: overlayfs if containerd's own mount test passed, else native.
		var status map[string]string
		if status, err = c.snapshotters(); err == nil && status["overlayfs"] != "ok" {
			t.Logf("overlayfs snapshotter %q; restarting containerd with native", status["overlayfs"])
			c.stop(t)
			c, err = runContainerd(s, "native")
		}
	}
	if c != nil {
		t.Cleanup(func() { c.stop(t) })
	}
	if err != nil {
		if c != nil {
			t.Logf("%s", tail(c.log, 40))
		}
		t.Fatalf("containerd: %v", err)
	}
	t.Logf("containerd with CRI ready (snapshotter %s)", c.snapshotter)
	return c
}

func runContainerd(s *state, snapshotter string) (*containerdDaemon, error) {
	config := s.path("containerd.toml")
	if err := os.WriteFile(config, []byte(criConfig(s.Pause, snapshotter)), 0o644); err != nil {
		return nil, err
	}
	c := &containerdDaemon{log: s.path("logs", "containerd.log"), exited: make(chan struct{}), snapshotter: snapshotter}
	if err := os.MkdirAll(filepath.Dir(c.log), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c.cmd = exec.Command("containerd", "--config", config)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-c.exited:
			return c, fmt.Errorf("containerd exited: %v", c.cmd.ProcessState)
		default:
		}
		if _, err := c.ctr("version"); err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("no answer on %s after 30s", containerdSocket)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *containerdDaemon) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", containerdSocket, "--namespace", criNamespace}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// snapshotters maps snapshotter plugin IDs to their status ("ok", "skip", "error").
func (c *containerdDaemon) snapshotters() (map[string]string, error) {
	out, err := c.ctr("plugins", "ls")
	if err != nil {
		return nil, err
	}
	status := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "io.containerd.snapshotter.v1" {
			status[f[1]] = f[len(f)-1]
		}
	}
	return status, nil
}

var unpackedRe = regexp.MustCompile(`(?m)^unpacking (\S+) \((sha256:[0-9a-f]{64})\)`)

// importImages imports an archive into CRI's namespace, unpacked for CRI's snapshotter, and
// returns the references it created.
func (c *containerdDaemon) importImages(t *testing.T, archive string) []string {
	t.Helper()
	began := time.Now()
	out, err := c.ctr("images", "import", "--snapshotter", c.snapshotter, archive)
	if err != nil {
		t.Fatalf("importing %s: %v", archive, err)
	}
	var refs []string
	for _, m := range unpackedRe.FindAllStringSubmatch(out, -1) {
		refs = append(refs, m[1])
	}
	t.Logf("imported %v in %v", refs, time.Since(began).Round(time.Millisecond))
	return refs
}

// stop stops containerd; shims and containers left are the sandbox's to kill.
func (c *containerdDaemon) stop(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		t.Logf("containerd did not stop in 20s: killing it")
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(lines), path, strings.Join(lines, "\n"))
}
