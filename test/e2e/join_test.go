//go:build e2e || conformance || vm

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"

	"github.com/ckubelet/ckubelet/internal/launch"
)

// kubeletName is the kubelet container's name (launch's default).
const kubeletName = "kubelet"

// kubeletNode is the kubelet container internal/launch runs.
type kubeletNode struct {
	client  *launch.ContainerdClient
	started time.Time // when the kubelet container's process started
	log     string
}

// joinNode is `ckubelet join --runtime containerd --image REF --mount HOSTPATH -- ARGS`: through
// launch.Join, kubeadm join runs from the kubeadm-cni image in a one-shot container, the host's
// settings are merged into the kubelet configuration it wrote, the kubelet container starts with
// kubeadm's flags, and Join waits for kubelet's TLS bootstrap.
func joinNode(t *testing.T, s *state, cd *containerdDaemon, tok bootstrapToken, caHash string, extra ...launch.Mount) *kubeletNode {
	t.Helper()
	ctx := context.Background()
	copts := launch.ContainerdOptions{
		Address:     containerdSocket,
		Namespace:   launch.DefaultNamespace,
		Snapshotter: cd.snapshotter,
		LogFile:     s.logPath("kubelet"),
		// Beside kubepods in the run's own cgroup root, not containerd's default /k8s.io/NAME:
		// cgroups are the one thing the sandbox shares with the host, and one tree per run is
		// one rmdir per run, even after a crash (see cleanStaleRuns).
		CgroupParent: s.CgroupRoot,
	}
	client, err := launch.ConnectContainerd(ctx, copts)
	if err != nil {
		t.Fatal(err)
	}
	n := &kubeletNode{client: client, log: copts.LogFile}
	t.Cleanup(func() {
		n.remove(t)
		client.Close()
	})

	var out bytes.Buffer
	var mu sync.Mutex
	stdout, stderr := &lineWriter{mu: &mu, w: &out}, &lineWriter{mu: &mu, w: &out}
	began := time.Now()
	err = launch.Join(ctx, launch.Options{
		Runtime: "containerd",
		Image:   s.KubeletImage,
		Name:    kubeletName,
		// The workload's hostPath volume: kubelet checks hostPath directories in its own mount
		// namespace, so it must see the directory at the runtime's path (--mount SRC).
		Mounts:        append([]launch.Mount{{Source: s.hostPathDir(), Destination: s.hostPathDir(), Propagation: launch.RShared}}, extra...),
		CRI:           launch.CRIs["containerd"],
		Containerd:    copts,
		Replace:       true,
		BootstrapWait: 3 * time.Minute,
		KubeadmArgs: []string{
			nodeIP + ":" + apiServerPort,
			"--token=" + tok.String(),
			"--discovery-token-ca-cert-hash=" + caHash,
		},
		// kubeadm's stdout and stderr come through two FIFOs: keep their lines whole.
		Stdout: stdout,
		Stderr: stderr,
	})
	out.Write(stdout.buf) // unterminated last lines
	out.Write(stderr.buf)
	os.WriteFile(s.logPath("ckubelet-join"), out.Bytes(), 0o644)
	if err != nil {
		t.Fatalf("ckubelet join: %v\n%s\n%s", err, out.String(), tail(n.log, 40))
	}
	t.Logf("ckubelet join done in %v:\n%s", time.Since(began).Round(100*time.Millisecond), ckubeletLines(out.String()))
	if n.started, err = containerStart(ctx, kubeletName); err != nil {
		t.Fatal(err)
	}
	t.Logf("TLS bootstrap done %v after the kubelet container started", time.Since(n.started).Round(100*time.Millisecond))
	return n
}

// lineWriter writes whole lines to w, which it shares with other lineWriters under mu.
type lineWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		l.mu.Lock()
		_, err := l.w.Write(l.buf[:i+1])
		l.mu.Unlock()
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// ckubeletLines keeps ckubelet's own messages from join's output (kubeadm's are in the log file).
func ckubeletLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ckubelet:") || strings.HasPrefix(l, "started ") {
			keep = append(keep, "  "+l)
		}
	}
	return strings.Join(keep, "\n")
}

// containerStart is when the task of a container in CRI's namespace started: the start time of
// its process, from /proc (the sandbox shares containerd's PID namespace).
func containerStart(ctx context.Context, id string) (time.Time, error) {
	c, err := containerd.New(containerdSocket, containerd.WithDefaultNamespace(criNamespace))
	if err != nil {
		return time.Time{}, err
	}
	defer c.Close()
	cont, err := c.LoadContainer(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		return time.Time{}, err
	}
	return processStart(int(task.Pid()))
}

// processStart reads a process's start time: field 22 of /proc/PID/stat is in clock ticks since
// boot (USER_HZ, 100 on Linux), /proc/uptime is the time since boot now, both to 10ms.
func processStart(pid int) (time.Time, error) {
	now := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, err
	}
	// The command name (field 2) may hold spaces; the fields after it follow its ")".
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 20 {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64) // field 22 overall
	if err != nil {
		return time.Time{}, err
	}
	up, err := strconv.ParseFloat(strings.Fields(string(uptime))[0], 64)
	if err != nil {
		return time.Time{}, err
	}
	age := time.Duration(up*float64(time.Second)) - time.Duration(ticks)*(time.Second/100)
	return now.Add(-age), nil
}

// remove stops and deletes the kubelet container.
func (n *kubeletNode) remove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.client.Remove(ctx, kubeletName); err != nil {
		t.Errorf("removing the kubelet container: %v", err)
	}
}

// logTail is the end of the kubelet container's output.
func (n *kubeletNode) logTail(lines int) string { return tail(n.log, lines) }
