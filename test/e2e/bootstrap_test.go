//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What `kubeadm init` leaves in a cluster for `kubeadm join` of a worker, per
// cmd/kubeadm/app/phases/{bootstraptoken,uploadconfig,kubelet} of the same release.
const (
	bootstrapGroup = "system:bootstrappers:kubeadm:default-node-token" // constants.NodeBootstrapTokenAuthGroup
	nodesGroup     = "system:nodes"
)

// bootstrapToken is a kubeadm join token, "ID.SECRET".
type bootstrapToken struct{ id, secret string }

func (b bootstrapToken) String() string { return b.id + "." + b.secret }

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789" // the token format's [a-z0-9]
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(err)
	}
	for i := range buf {
		buf[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return string(buf)
}

// clusterConfiguration is the kubeadm-config ConfigMap's ClusterConfiguration.
func clusterConfiguration(version string) string {
	return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: kubernetes
kubernetesVersion: %s
controlPlaneEndpoint: %s:%s
certificatesDir: /etc/kubernetes/pki
imageRepository: registry.k8s.io
networking:
  dnsDomain: cluster.local
  podSubnet: %s
  serviceSubnet: %s
`, version, nodeIP, apiServerPort, podCIDR, serviceCIDR)
}

// kubeletConfiguration is the kubelet-config ConfigMap's KubeletConfiguration, which kubeadm join
// writes to /var/lib/kubelet/config.yaml. What this machine needs: cgroupfs (systemd is not PID 1),
// failCgroupV1: false (kubelet ≥ 1.35 refuses cgroup v1 otherwise), a cgroupRoot of this run's own.
// Disk-based eviction and image garbage collection are off, as kind does: the node shares a CI
// disk that other jobs fill (kubelet evicted the test's pods at 14% free, below imagefs's 15%),
// and a collected image cannot come back, there being no registry.
func kubeletConfiguration(cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
clusterDomain: cluster.local
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: /etc/resolv.conf
failSwapOn: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
`, cgroupRoot, containerdSocket)
}

// clusterInfoKubeconfig is kube-public/cluster-info's kubeconfig, as kubeadm writes it: the
// API server and the CA, nothing secret. The bootstrap signer adds a JWS signature per token.
func clusterInfoKubeconfig(caPEM []byte) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: ""
contexts: null
current-context: ""
preferences: {}
users: null
`, base64.StdEncoding.EncodeToString(caPEM), apiServerURL)
}

// bootstrapCluster creates the join token, cluster-info, kubeadm's configuration ConfigMaps and the
// RBAC that join and TLS bootstrap need, then waits for the signer to sign cluster-info.
func bootstrapCluster(t *testing.T, cp *controlPlane, s *state) bootstrapToken {
	t.Helper()
	ctx := context.Background()
	c := cp.client
	tok := bootstrapToken{id: randomString(6), secret: randomString(16)}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("creating %s: %v", what, err)
		}
	}
	_, err := c.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + tok.id, Namespace: "kube-system"},
		Type:       "bootstrap.kubernetes.io/token",
		StringData: map[string]string{
			"token-id":                       tok.id,
			"token-secret":                   tok.secret,
			"expiration":                     time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing":        "true",
			"auth-extra-groups":              bootstrapGroup,
			"description":                    "ckubelet e2e",
		},
	}, metav1.CreateOptions{})
	must("the bootstrap token", err)

	_, err = c.CoreV1().ConfigMaps("kube-public").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"},
		Data:       map[string]string{"kubeconfig": clusterInfoKubeconfig(cp.pki.caPEM)},
	}, metav1.CreateOptions{})
	must("cluster-info", err)
	_, err = c.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data:       map[string]string{"ClusterConfiguration": clusterConfiguration(s.Version)},
	}, metav1.CreateOptions{})
	must("kubeadm-config", err)
	_, err = c.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kubelet-config", Namespace: "kube-system"},
		Data:       map[string]string{"kubelet": kubeletConfiguration(s.CgroupRoot)},
	}, metav1.CreateOptions{})
	must("kubelet-config", err)

	group := func(name string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.GroupKind, Name: name} }
	clusterRoleBinding := func(name, role string, subjects ...rbacv1.Subject) {
		t.Helper()
		_, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   subjects,
		}, metav1.CreateOptions{})
		must("ClusterRoleBinding "+name, err)
	}
	role := func(ns, name string, rule rbacv1.PolicyRule, subjects ...rbacv1.Subject) {
		t.Helper()
		_, err := c.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Rules:      []rbacv1.PolicyRule{rule},
		}, metav1.CreateOptions{})
		must("Role "+name, err)
		_, err = c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   subjects,
		}, metav1.CreateOptions{})
		must("RoleBinding "+name, err)
	}
	getConfigMap := func(name string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{name}}
	}
	// TLS bootstrap: joining kubelets may post CSRs, the csrapproving controller approves their
	// client CSRs, and nodes' renewals.
	clusterRoleBinding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", group(bootstrapGroup))
	clusterRoleBinding("kubeadm:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", group(bootstrapGroup))
	clusterRoleBinding("kubeadm:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", group(nodesGroup))
	// kubeadm join looks for a Ready node of its name before bootstrapping.
	_, err = c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:get-nodes"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}},
	}, metav1.CreateOptions{})
	must("ClusterRole kubeadm:get-nodes", err)
	clusterRoleBinding("kubeadm:get-nodes", "kubeadm:get-nodes", group(bootstrapGroup))
	// The API server's client certificate may use kubelet's API (logs, exec).
	clusterRoleBinding("kubeadm:apiserver-kubelet-client", "system:kubelet-api-admin",
		rbacv1.Subject{Kind: rbacv1.UserKind, Name: "kube-apiserver-kubelet-client"})
	// Discovery reads cluster-info anonymously; join reads kubeadm's and kubelet's configuration.
	role("kube-public", "kubeadm:bootstrap-signer-clusterinfo", getConfigMap("cluster-info"),
		rbacv1.Subject{Kind: rbacv1.UserKind, Name: "system:anonymous"})
	role("kube-system", "kubeadm:nodes-kubeadm-config", getConfigMap("kubeadm-config"), group(bootstrapGroup), group(nodesGroup))
	role("kube-system", "kubeadm:kubelet-config", getConfigMap("kubelet-config"), group(nodesGroup), group(bootstrapGroup))
	role("kube-system", "kube-proxy", getConfigMap("kube-proxy"), group(bootstrapGroup))

	waitFor(t, "the bootstrap signer to sign cluster-info", 2*time.Minute, func() error {
		cp.check(t)
		cm, err := c.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := cm.Data["jws-kubeconfig-"+tok.id]; !ok {
			return fmt.Errorf("cluster-info has no jws-kubeconfig-%s yet (keys: %s)", tok.id, strings.Join(keys(cm.Data), ", "))
		}
		return nil
	})
	return tok
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
