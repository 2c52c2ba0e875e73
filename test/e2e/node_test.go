//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeStage runs inside the sandbox: the runtime, the control plane, the join, the workloads.
func nodeStage(t *testing.T) {
	s, err := readState()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	t.Cleanup(func() { reportSandboxLeftovers(t) }) // runs last, once everything is stopped

	cd := startContainerd(t, s)
	images := cd.importImages(t, s.ImagesArchive)
	images = append(images, cd.importImages(t, s.PodArchive)...)
	for _, want := range []string{s.KubeletImage, s.KubeProxy, s.Pause, s.PodImage} {
		if !slices.Contains(images, want) {
			t.Fatalf("imported %v; %s missing", images, want)
		}
	}
	cp := startControlPlane(t, s)
	tok := bootstrapCluster(t, cp, s)

	// The node's pods are removed by CRI after kubelet is gone (see removePodSandboxes), and
	// before containerd stops.
	t.Cleanup(func() { removePodSandboxes(t, s) })
	readyAt, stopWatch := watchNodeReady(cp)
	defer stopWatch()
	node := joinNode(t, s, cd, tok, cp.pki.CAHash)
	ready := waitNodeReady(t, cp, node, readyAt)
	// The test brings no CNI plugin: the ones the runtime runs are those the kubeadm-cni image's
	// entrypoint (cni-install) copied from the image into the host's /opt/cni/bin.
	for _, plugin := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join("/opt/cni/bin", plugin)); err != nil {
			t.Errorf("CNI plugin %s not installed by the kubelet image: %v", plugin, err)
		}
	}
	// Printed on a line of its own, for people and scripts.
	fmt.Printf("node %s Ready after %.1fs\n", nodeName, ready.Seconds())

	w := &workloads{t: t, cp: cp, s: s, node: node}
	t.Cleanup(w.teardown) // first of all cleanups: kubelet unmounts the volumes of deleted pods
	ok := t.Run("pod-with-volumes", w.podWithVolumes)
	if !ok {
		t.Logf("%s", node.logTail(60))
	}
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run("kube-proxy-"+mode, func(t *testing.T) {
			if !ok {
				t.Skip("the workload pod failed")
			}
			w.kubeProxy(t, mode)
		})
	}
	t.Logf("node stage: %v up to now", time.Since(began).Round(time.Second))
}

// watchNodeReady polls, from before the join, for the node to report Ready, and sends when it first
// saw it: ckubelet join returns only after the TLS bootstrap, by which time the node may be Ready.
func watchNodeReady(cp *controlPlane) (<-chan time.Time, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	at := make(chan time.Time, 1)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if node, err := cp.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{}); err == nil && nodeReady(node) != "" {
				at <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return at, cancel
}

// nodeReady returns "" unless the node's Ready condition is True, else that condition.
func nodeReady(node *corev1.Node) string {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "Ready"
			}
			return fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	return ""
}

// waitNodeReady waits for the node to report Ready, and returns how long after the kubelet
// container's start that was.
func waitNodeReady(t *testing.T, cp *controlPlane, n *kubeletNode, readyAt <-chan time.Time) time.Duration {
	t.Helper()
	var at time.Time
	timeout := time.After(4 * time.Minute)
	for at.IsZero() {
		select {
		case at = <-readyAt:
		case <-timeout:
			state := "not registered"
			if node, err := cp.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{}); err == nil {
				state = "not Ready: " + nodeReady(node)
			}
			t.Fatalf("node %s %s after 4m\n%s", nodeName, state, n.logTail(60))
		case <-time.After(5 * time.Second):
			cp.check(t)
		}
	}
	ready := at.Sub(n.started)
	ctx := context.Background()
	node, err := cp.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := node.Status.NodeInfo
	t.Logf("node %s: kubelet %s, %s, %s, kernel %s, addresses %v, pod CIDR %s",
		node.Name, info.KubeletVersion, info.ContainerRuntimeVersion, info.OSImage, info.KernelVersion, node.Status.Addresses, node.Spec.PodCIDR)
	if info.KubeletVersion != testVersion {
		t.Errorf("node runs kubelet %s, want %s", info.KubeletVersion, testVersion)
	}
	// The TLS bootstrap went through the CSR API: the bootstrap token's CSR was approved by the
	// csrapproving controller (kubeadm's auto-approve binding) and signed by the controller manager.
	csrs, err := cp.client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	approved := false
	for _, csr := range csrs.Items {
		if csr.Spec.SignerName != "kubernetes.io/kube-apiserver-client-kubelet" || !strings.HasPrefix(csr.Spec.Username, "system:bootstrap:") {
			continue
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == "Approved" && len(csr.Status.Certificate) > 0 {
				approved = true
				t.Logf("CSR %s of %s: %s by %s", csr.Name, csr.Spec.Username, c.Type, c.Reason)
			}
		}
	}
	if !approved {
		t.Errorf("no approved and signed kubelet client CSR from a bootstrap token among %d CSRs", len(csrs.Items))
	}
	return ready
}

// reportSandboxLeftovers checks, inside the sandbox and after every cleanup, that the teardown
// left nothing running and nothing mounted under the node's directories (beyond the sandbox's own
// bind mounts). The sandbox's init kills and the kernel unmounts what is left anyway; this says
// whether the node's components cleaned up after themselves.
func reportSandboxLeftovers(t *testing.T) {
	if left := processes(); len(left) > 0 {
		t.Errorf("sandbox: processes left after teardown: %s", strings.Join(left, "; "))
	}
	var mounts []string
	for _, m := range mountsUnder(nodeDirs...) {
		if !slices.Contains(nodeDirs, m) {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) > 0 {
		t.Errorf("sandbox: mounts left under the node's directories after teardown: %v", mounts)
	}
	// What a real host would keep (the sandbox's network namespace takes it away): for the
	// record, not a failure.
	var kept []string
	for k := range snapshotHost() {
		if nodeNetworkNames.MatchString(k) {
			kept = append(kept, k)
		}
	}
	slices.Sort(kept)
	t.Logf("sandbox: node network state after teardown (a real host keeps it): %v", kept)
	if netns, _ := os.ReadDir("/run/netns"); len(netns) > 0 {
		var names []string
		for _, e := range netns {
			names = append(names, e.Name())
		}
		t.Errorf("sandbox: pod network namespaces left in /run/netns: %v", names)
	}
}

// podReady is a condition for waitFor.
func podReady(cp *controlPlane, ns, pod string) error {
	p, err := cp.client.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			return nil
		}
	}
	return fmt.Errorf("%s/%s: %s", ns, pod, describePod(p))
}
