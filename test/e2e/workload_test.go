//go:build e2e || conformance || vm

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/ckubelet/ckubelet/internal/launch"
)

const (
	workloadNS  = "e2e"
	podName     = "e2e-pod"
	serviceName = "e2e"
	// What the workload must print: its Secret, ConfigMap and hostPath files, and the file it
	// wrote to its emptyDir and read back.
	secretValue   = "hello-from-secret"
	configValue   = "blue"
	hostPathValue = "from-the-host"
)

type workloads struct {
	t     *testing.T
	cp    *controlPlane
	s     *state
	node  *kubeletNode
	pod   *corev1.Pod
	svc   *corev1.Service
	tools int // containers imageTool ran
}

func ptr[T any](v T) *T { return &v }

// podWithVolumes runs the workload with a Secret, a ConfigMap, an emptyDir and a hostPath volume
// and a Service in front of it, then checks through the API server (pods/log, served by kubelet)
// that it read and wrote them, and on the node that the volumes are where the runtime put them.
func (w *workloads) podWithVolumes(t *testing.T) {
	ctx := context.Background()
	c := w.cp.client
	if err := os.WriteFile(filepath.Join(w.s.hostPathDir(), "hello.txt"), []byte(hostPathValue+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The service-account admission plugin refuses pods until the namespace's default account exists.
	waitFor(t, "the default service account of "+workloadNS, time.Minute, func() error {
		_, err := c.CoreV1().ServiceAccounts(workloadNS).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if _, err := c.CoreV1().Secrets(workloadNS).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-secret"},
		StringData: map[string]string{"greeting": secretValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(workloadNS).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-config"},
		Data:       map[string]string{"color": configValue},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "e2e"}
	pod, err := c.CoreV1().Pods(workloadNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(5)),
			Containers: []corev1.Container{{
				Name:            "podprog",
				Image:           w.s.PodImage,
				ImagePullPolicy: corev1.PullNever, // imported into containerd; there is no registry
				Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				// kubelet probes over the pod network: node to pod through the bridge.
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "secret", MountPath: "/etc/e2e/secret", ReadOnly: true},
					{Name: "config", MountPath: "/etc/e2e/config", ReadOnly: true},
					{Name: "data", MountPath: "/data"},
					{Name: "host", MountPath: "/host"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "e2e-secret"}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "e2e-config"}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: w.s.hostPathDir(), Type: ptr(corev1.HostPathDirectory)}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.pod = pod
	began := time.Now()
	if w.svc, err = c.CoreV1().Services(workloadNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPodReady(t, workloadNS, podName, 3*time.Minute)
	t.Logf("pod %s Ready %v after creation", podName, time.Since(began).Round(100*time.Millisecond))
	if pod, err = c.CoreV1().Pods(workloadNS).Get(ctx, podName, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	w.pod = pod

	// The log, through the API server and kubelet's API.
	var logs string
	waitFor(t, "the workload's log", time.Minute, func() error {
		b, err := c.CoreV1().Pods(workloadNS).GetLogs(podName, &corev1.PodLogOptions{}).DoRaw(ctx)
		logs = string(b)
		if err != nil {
			return err
		}
		if !strings.Contains(logs, "serving on") {
			return fmt.Errorf("log incomplete: %q", logs)
		}
		return nil
	})
	t.Logf("workload log (pods/log):\n%s", logs)
	for _, want := range []string{
		"/etc/e2e/secret/greeting=" + secretValue,
		"/etc/e2e/config/color=" + configValue,
		"/host/hello.txt=" + hostPathValue,
		"/data/written.txt=written by " + podName,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("workload log lacks %q", want)
		}
	}
	if strings.Contains(logs, "ERROR") {
		t.Errorf("workload reported errors")
	}

	// On the node (the sandbox is the host the runtime sees).
	volumes := filepath.Join(launch.KubeletDir, "pods", string(pod.UID), "volumes")
	// kubelet mounted the Secret's tmpfs inside its container; the runtime found it on the host:
	// the mount propagated out of the kubelet container through the rshared /var/lib/kubelet.
	secretDir := filepath.Join(volumes, "kubernetes.io~secret", "secret")
	if m := mountsUnder(secretDir); len(m) == 0 {
		t.Errorf("the Secret volume %s is not a mount on the host: kubelet's mount did not propagate", secretDir)
	}
	if b, err := os.ReadFile(filepath.Join(secretDir, "greeting")); err != nil || string(b) != secretValue {
		t.Errorf("the Secret on the host: %q, %v", b, err)
	}
	// The emptyDir the pod wrote into is kubelet's directory on the host.
	if b, err := os.ReadFile(filepath.Join(volumes, "kubernetes.io~empty-dir", "data", "written.txt")); err != nil || !strings.Contains(string(b), podName) {
		t.Errorf("the emptyDir's file on the host: %q, %v", b, err)
	}
	// And what the pod wrote into the hostPath directory is on the host.
	if b, err := os.ReadFile(filepath.Join(w.s.hostPathDir(), "from-pod.txt")); err != nil || !strings.Contains(string(b), podName) {
		t.Errorf("the pod's file in the hostPath directory: %q, %v", b, err)
	}
}

// waitPodReady waits for a pod's Ready condition, failing early if a container cannot start.
func (w *workloads) waitPodReady(t *testing.T, ns, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := poll(timeout, func() error {
		w.cp.check(t)
		var err error
		if pod, err = w.cp.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return err
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if st := cs.State.Waiting; st != nil && (st.Reason == "ErrImageNeverPull" || st.Reason == "CreateContainerError" || st.Reason == "CreateContainerConfigError") {
				return fatal(fmt.Errorf("container %s: %s: %s", cs.Name, st.Reason, st.Message))
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("pod %s/%s is %s", ns, name, describePod(pod))
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, w.events(ns))
	}
	return pod
}

func describePod(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", p.Status.Phase)
	if p.Status.Reason != "" || p.Status.Message != "" {
		fmt.Fprintf(&b, " (%s: %s)", p.Status.Reason, p.Status.Message)
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, "; %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, "; %s waiting: %s %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil:
			fmt.Fprintf(&b, "; %s terminated: %s %d %s", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode, cs.State.Terminated.Message)
		}
	}
	return b.String()
}

// events lists a namespace's events, for failure messages.
func (w *workloads) events(ns string) string {
	evs, err := w.cp.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- events in %s ---\n", ns)
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "%s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
	return b.String()
}

// kubeProxyConfig is kube-proxy's configuration in a mode. The conntrack settings are zero so that
// kube-proxy leaves the kernel's as they are: nf_conntrack_max is global and only the initial
// network namespace may set it.
func kubeProxyConfig(mode string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: %s
clusterCIDR: %s
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, mode, podCIDR)
}

// kubeProxyKubeconfig is kubeadm's: the service-account token and CA, the API server by address
// (the kubernetes Service needs kube-proxy to work).
var kubeProxyKubeconfig = fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: %s
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
`, apiServerURL)

// kubeProxy runs kube-proxy from ckubelet's image as kubeadm's DaemonSet does (hostNetwork,
// privileged, its ConfigMap), in the given mode, checks its rules and that the Service answers
// from the node, then removes it and its rules with `kube-proxy --cleanup` from the same image.
func (w *workloads) kubeProxy(t *testing.T, mode string) {
	// Rules of an earlier kube-proxy would answer for this one.
	for _, m := range []string{"iptables", "nftables"} {
		if err := w.proxyRules(t, m); err == nil {
			t.Fatalf("kube-proxy %s rules are already there before starting kube-proxy in %s mode", m, mode)
		}
	}
	ctx := context.Background()
	c := w.cp.client
	ns := "kube-system"
	began := time.Now()
	proxyPod := deployKubeProxy(t, c, w.s.KubeProxy, mode)
	w.waitPodReady(t, ns, proxyPod, 2*time.Minute)
	t.Logf("kube-proxy (%s mode) Ready %v after creation", mode, time.Since(began).Round(100*time.Millisecond))
	privileged := &corev1.SecurityContext{Privileged: ptr(true)}
	xtablesLock := xtablesLockVolume()

	// Its rules, as the node's tools see them. kube-proxy's /healthz answers before its first
	// sync, so Ready does not mean the rules are there yet.
	if err := poll(time.Minute, func() error { return w.proxyRules(t, mode) }); err != nil {
		t.Errorf("kube-proxy %s rules: %v", mode, err)
	}
	// The Service, from the node: the ClusterIP exists only in kube-proxy's rules.
	url := "http://" + net.JoinHostPort(w.svc.Spec.ClusterIP, "80") + "/"
	var body string
	waitFor(t, "the Service "+url, time.Minute, func() error {
		hc := &http.Client{Timeout: 3 * time.Second}
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
		}
		return nil
	})
	if !strings.Contains(body, "pod "+podName) || !strings.Contains(body, secretValue) {
		t.Errorf("the Service answered %q", body)
	}
	t.Logf("GET %s (ClusterIP, %s mode) answered:\n%s", url, mode, body)

	// Remove kube-proxy, then its rules, with the image's own --cleanup.
	began = time.Now()
	if err := c.AppsV1().DaemonSets(ns).Delete(ctx, "kube-proxy", metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)}); err != nil {
		t.Fatal(err)
	}
	w.waitPodsGone(t, ns, "k8s-app=kube-proxy")
	t.Logf("kube-proxy DaemonSet deleted, its pod gone in %v", time.Since(began).Round(100*time.Millisecond))
	began = time.Now()
	cleanup := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-cleanup-" + mode, Labels: map[string]string{"e2e": "kube-proxy-cleanup"}},
		Spec: corev1.PodSpec{
			HostNetwork:   true,
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "cleanup",
				Image:           w.s.KubeProxy,
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/usr/local/bin/kube-proxy", "--cleanup", "--v=2"},
				SecurityContext: privileged,
				VolumeMounts:    []corev1.VolumeMount{{Name: "xtables-lock", MountPath: "/run/xtables.lock"}},
			}},
			Volumes: []corev1.Volume{xtablesLock},
		},
	}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, cleanup, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kube-proxy --cleanup", 2*time.Minute, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctx, cleanup.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			log, _ := c.CoreV1().Pods(ns).GetLogs(cleanup.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			return fatal(fmt.Errorf("kube-proxy --cleanup failed: %s\n--- its log ---\n%s", describePod(p), log))
		}
		return fmt.Errorf("kube-proxy --cleanup is %s", describePod(p))
	})
	if err := c.CoreV1().Pods(ns).Delete(ctx, cleanup.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitPodsGone(t, ns, "")
	t.Logf("kube-proxy --cleanup ran and its pod is gone in %v", time.Since(began).Round(100*time.Millisecond))
	if err := w.proxyRules(t, mode); err == nil {
		t.Errorf("kube-proxy --cleanup left its %s rules", mode)
	}
}

// proxyRules returns nil if kube-proxy's rules of the mode are in the node's network namespace:
// the KUBE-SERVICES chain of the nat table (in either iptables backend) or the kube-proxy
// nftables table with its service-ips map. It lists them with the kube-proxy image's own tools:
// the host's nft (Debian 12's 1.0.6) crashes listing the table kube-proxy 1.37 writes.
func (w *workloads) proxyRules(t *testing.T, mode string) error {
	if mode == "nftables" {
		out, err := w.imageTool(t, w.s.KubeProxy, "/usr/sbin/nft", "list", "table", "ip", "kube-proxy")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "service-ips") {
			return fmt.Errorf("table ip kube-proxy has no service-ips map:\n%s", out)
		}
		return nil
	}
	var seen []string
	for _, tool := range []string{"/usr/sbin/iptables-nft-save", "/usr/sbin/iptables-legacy-save"} {
		out, err := w.imageTool(t, w.s.KubeProxy, tool, "-t", "nat")
		if err != nil {
			seen = append(seen, err.Error())
			continue
		}
		if strings.Contains(out, ":KUBE-SERVICES") {
			t.Logf("kube-proxy's iptables rules are in the %s backend", strings.TrimSuffix(strings.TrimPrefix(tool, "/usr/sbin/iptables-"), "-save"))
			return nil
		}
		seen = append(seen, fmt.Sprintf("%s: no KUBE-SERVICES chain in:\n%s", tool, out))
	}
	return fmt.Errorf("%s", strings.Join(seen, "; "))
}

// imageTool runs a program of an image once in the node's network namespace (privileged, with
// /run for the xtables lock) and returns its output.
func (w *workloads) imageTool(t *testing.T, image string, argv ...string) (string, error) {
	t.Helper()
	w.tools++
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Separate buffers: the runtime copies stdout and stderr concurrently (one buffer for both
	// corrupted the output with NUL bytes).
	var out, errOut bytes.Buffer
	err := w.node.client.RunOnce(ctx, launch.Spec{
		Name:        fmt.Sprintf("e2e-tool-%d", w.tools),
		Image:       image,
		Entrypoint:  argv[:1],
		Args:        argv[1:],
		Privileged:  true,
		HostNetwork: true,
		Mounts:      []launch.Mount{{Source: "/run", Destination: "/run", Propagation: launch.RSlave}},
	}, &out, &errOut)
	if err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s%s", strings.Join(argv, " "), err, errOut.String(), out.String())
	}
	return out.String(), nil
}

// waitPodsGone waits until no pod of the namespace (matching the selector) is left.
func (w *workloads) waitPodsGone(t *testing.T, ns, selector string) {
	t.Helper()
	waitFor(t, "pods of "+ns+" to be gone", 2*time.Minute, func() error {
		pods, err := w.cp.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d left, e.g. %s: %s", len(pods.Items), pods.Items[0].Name, describePod(&pods.Items[0]))
		}
		return nil
	})
}

// teardown deletes the workloads while kubelet still runs, so that it stops their containers
// and unmounts their volumes, then checks that no volume mount is left under /var/lib/kubelet.
func (w *workloads) teardown() {
	t := w.t
	ctx := context.Background()
	c := w.cp.client
	c.AppsV1().DaemonSets("kube-system").Delete(ctx, "kube-proxy", metav1.DeleteOptions{})
	c.CoreV1().Pods("kube-system").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "e2e=kube-proxy-cleanup"})
	if err := c.CoreV1().Namespaces().Delete(ctx, workloadNS, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", workloadNS, err)
	}
	err := poll(2*time.Minute, func() error {
		for _, ns := range []string{workloadNS, "kube-system"} {
			pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("pod %s/%s still %s", ns, pods.Items[0].Name, describePod(&pods.Items[0]))
			}
		}
		if m := mountsUnder(filepath.Join(launch.KubeletDir, "pods")); len(m) > 0 {
			return fmt.Errorf("volume mounts left: %v", m)
		}
		return nil
	})
	if err != nil {
		t.Errorf("teardown of the workloads: %v", err)
	}
}

// removePodSandboxes removes every CRI pod left on the node, once kubelet is gone, with the crictl
// of the kubeadm image: `crictl rmp --all --force` stops each sandbox (CNI DEL: its veth and
// address go) and deletes it, so containerd's shims exit before containerd stops.
func removePodSandboxes(t *testing.T, s *state) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := launch.ConnectContainerd(ctx, launch.ContainerdOptions{Address: containerdSocket, Namespace: launch.DefaultNamespace, CgroupParent: s.CgroupRoot})
	if err != nil {
		t.Errorf("crictl rmp: %v", err)
		return
	}
	defer client.Close()
	var out, errOut bytes.Buffer
	err = client.RunOnce(ctx, launch.Spec{
		Name:        "crictl-rmp",
		Image:       s.KubeletImage,
		Entrypoint:  []string{"/usr/bin/crictl"},
		Args:        []string{"rmp", "--all", "--force"},
		Privileged:  true,
		HostNetwork: true,
		Mounts:      []launch.Mount{{Source: "/run", Destination: "/run", Propagation: launch.RSlave}},
	}, &out, &errOut)
	if err != nil {
		t.Errorf("crictl rmp --all --force: %v\n%s%s", err, errOut.String(), out.String())
		return
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Logf("crictl rmp --all --force: %s", s)
	}
}

// xtablesLockVolume is the iptables lock kube-proxy shares with kubelet, as kubeadm mounts it.
func xtablesLockVolume() corev1.Volume {
	return corev1.Volume{Name: "xtables-lock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: "/run/xtables.lock", Type: ptr(corev1.HostPathFileOrCreate)}}}
}

// deployKubeProxy creates kubeadm's kube-proxy DaemonSet (hostNetwork, privileged, its
// ConfigMap, its service account and binding) with image in the given mode, and returns its
// pod's name once there is one.
func deployKubeProxy(t *testing.T, c kubernetes.Interface, image, mode string) string {
	t.Helper()
	ctx := context.Background()
	ns := "kube-system"
	if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "kube-proxy", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:node-proxier"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-proxier"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "kube-proxy", Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.CoreV1().ConfigMaps(ns).Delete(ctx, "kube-proxy", metav1.DeleteOptions{})
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy"},
		Data:       map[string]string{"config.conf": kubeProxyConfig(mode), "kubeconfig.conf": kubeProxyKubeconfig},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"k8s-app": "kube-proxy"}
	privileged := &corev1.SecurityContext{Privileged: ptr(true)}
	xtablesLock := xtablesLockVolume()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "kube-proxy",
					HostNetwork:        true,
					PriorityClassName:  "system-node-critical",
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name:            "kube-proxy",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Command:         []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"},
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
						SecurityContext: privileged,
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(10256)}},
							PeriodSeconds: 1,
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "kube-proxy", MountPath: "/var/lib/kube-proxy"},
							{Name: "xtables-lock", MountPath: "/run/xtables.lock"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "kube-proxy", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "kube-proxy"}}}},
						xtablesLock,
					},
				},
			},
		},
	}
	if _, err := c.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var proxyPod string
	waitFor(t, "the kube-proxy pod", 2*time.Minute, func() error {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 1 {
			return fmt.Errorf("%d kube-proxy pods", len(pods.Items))
		}
		proxyPod = pods.Items[0].Name
		return nil
	})
	return proxyPod
}
