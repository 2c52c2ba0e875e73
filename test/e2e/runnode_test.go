//go:build conformance

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ckubelet/ckubelet/internal/launch"
)

// runNode starts kubelet the way an edge node without kubeadm does: the cluster CA and a
// bootstrap kubeconfig with a join token in /etc/kubernetes, then `ckubelet run`, which writes
// the kubelet configuration itself. The flags are what this sandbox needs and kubeadm's
// configuration says in the join run: the run's own cgroup root, no disk eviction, no image GC
// (see kubeletConfiguration).
func runNode(t *testing.T, s *state, cp *controlPlane, tok bootstrapToken) *kubeletNode {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll("/etc/kubernetes/pki", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/kubernetes/pki/ca.crt", cp.pki.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	bootstrap := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: cluster
contexts:
- context:
    cluster: cluster
    user: kubelet-bootstrap
  name: bootstrap
current-context: bootstrap
users:
- name: kubelet-bootstrap
  user:
    token: %s
`, base64.StdEncoding.EncodeToString(cp.pki.caPEM), apiServerURL, tok)
	if err := os.WriteFile(launch.BootstrapKubeconfig, []byte(bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	copts := launch.ContainerdOptions{Address: containerdSocket, Namespace: launch.DefaultNamespace, LogFile: s.logPath("kubelet-run"), CgroupParent: s.CgroupRoot}
	client, err := launch.ConnectContainerd(ctx, copts)
	if err != nil {
		t.Fatal(err)
	}
	n := &kubeletNode{client: client, log: copts.LogFile}
	t.Cleanup(func() {
		n.remove(t)
		client.Close()
	})
	err = launch.Run(ctx, launch.Options{
		Runtime: "containerd",
		Image:   s.KubeletImage,
		Name:    kubeletName,
		Mounts: []launch.Mount{
			{Source: s.hostPathDir(), Destination: s.hostPathDir(), Propagation: launch.RShared},
			{Source: "/tmp", Destination: "/tmp", Propagation: launch.RShared},
		},
		CRI:        launch.CRIs["containerd"],
		Containerd: copts,
		ConfigPath: launch.KubeletConfigPath,
		Replace:    true,
		KubeletArgs: []string{
			"--cgroup-root=" + s.CgroupRoot, "--fail-swap-on=false",
			"--eviction-hard=memory.available<100Mi,nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%",
			"--image-gc-high-threshold=100",
		},
	})
	if err != nil {
		t.Fatalf("ckubelet run: %v", err)
	}
	if n.started, err = containerStart(ctx, kubeletName); err != nil {
		t.Fatal(err)
	}
	if err := launch.WaitForBootstrap(ctx, 3*time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, n.logTail(40))
	}
	b, _ := os.ReadFile(launch.KubeletConfigPath)
	t.Logf("ckubelet run wrote %s:\n%s", launch.KubeletConfigPath, b)
	return n
}

// drainNode deletes every pod on the node, with kubelet still running, and waits until kubelet
// has stopped them and unmounted their volumes, as a node being emptied does: the suite's
// namespaces are deleted asynchronously, so pods may still be terminating when ginkgo returns.
func drainNode(t *testing.T, cp *controlPlane) {
	t.Helper()
	ctx := context.Background()
	c := cp.client
	c.AppsV1().DaemonSets("kube-system").Delete(ctx, "kube-proxy", metav1.DeleteOptions{})
	onNode := metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName}
	err := poll(3*time.Minute, func() error {
		pods, err := c.CoreV1().Pods("").List(ctx, onNode)
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			}
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("pod %s/%s still %s", pods.Items[0].Namespace, pods.Items[0].Name, describePod(&pods.Items[0]))
		}
		if m := mountsUnder(filepath.Join(launch.KubeletDir, "pods")); len(m) > 0 {
			return fmt.Errorf("volume mounts left: %v", m)
		}
		return nil
	})
	if err != nil {
		t.Errorf("draining the node: %v", err)
	}
}

// resetNode takes the node away between runs: kubelet stopped, its pods deleted from the API
// and the runtime, its volumes unmounted, the Node object deleted, and what kubelet and kubeadm
// wrote removed, keeping the cluster CA.
func resetNode(t *testing.T, s *state, cp *controlPlane, n *kubeletNode) {
	t.Helper()
	ctx := context.Background()
	n.remove(t)
	pods, err := cp.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName})
	if err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	for _, p := range pods.Items {
		cp.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	removePodSandboxes(t, s)
	if failed := unmountUnder(launch.KubeletDir); len(failed) > 0 {
		t.Fatalf("unmounting kubelet's volumes: %v", failed)
	}
	if err := cp.client.CoreV1().Nodes().Delete(ctx, nodeName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(launch.KubeletDir)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(launch.KubeletDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{launch.KubeletKubeconfig, launch.BootstrapKubeconfig} {
		os.Remove(f)
	}
	t.Logf("node reset: %d pods deleted, kubelet's state removed", len(pods.Items))
}
