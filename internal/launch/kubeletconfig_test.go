package launch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDetectHost(t *testing.T) {
	for _, tt := range []struct {
		name   string
		files  fstest.MapFS
		want   Host
		driver string
	}{
		{"v2 systemd", fstest.MapFS{"sys/fs/cgroup/cgroup.controllers": {}, "run/systemd/system": {Mode: 0o755 | os.ModeDir}}, Host{CgroupV2: true, SystemdPID1: true}, "systemd"},
		{"v2 openrc", fstest.MapFS{"sys/fs/cgroup/cgroup.controllers": {}}, Host{CgroupV2: true}, "cgroupfs"},
		// hybrid: the unified hierarchy lives at /sys/fs/cgroup/unified, which does not make v2
		{"v1 hybrid systemd", fstest.MapFS{"sys/fs/cgroup/unified/cgroup.controllers": {}, "run/systemd/system": {Mode: 0o755 | os.ModeDir}}, Host{SystemdPID1: true}, "systemd"},
		{"v1 no systemd", fstest.MapFS{"sys/fs/cgroup/memory/tasks": {}}, Host{}, "cgroupfs"},
	} {
		got := DetectHost(tt.files)
		if got != tt.want || got.CgroupDriver() != tt.driver {
			t.Errorf("%s: DetectHost = %+v (%s), want %+v (%s)", tt.name, got, got.CgroupDriver(), tt.want, tt.driver)
		}
	}
}

func TestSettingsFor(t *testing.T) {
	s := SettingsFor(Host{CgroupV2: false, SystemdPID1: true}, CRIs["crio"], "")
	if s != (KubeletSettings{CgroupDriver: "systemd", CgroupV1: true, ContainerRuntimeEndpoint: "unix:///run/crio/crio.sock"}) {
		t.Errorf("SettingsFor = %+v", s)
	}
	if s := SettingsFor(Host{CgroupV2: true, SystemdPID1: true}, CRIs["containerd"], "cgroupfs"); s.CgroupDriver != "cgroupfs" || s.CgroupV1 {
		t.Errorf("override: %+v", s)
	}
}

// kubeadmConfig is the shape of what kubeadm join writes (abridged).
const kubeadmConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock
kind: KubeletConfiguration
maxPods: 110
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`

func TestKubeletConfig(t *testing.T) {
	v1cgroupfs := KubeletSettings{CgroupDriver: "cgroupfs", CgroupV1: true, ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"}
	v2systemd := KubeletSettings{CgroupDriver: "systemd", ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"}
	for _, tt := range []struct {
		name     string
		existing string
		settings KubeletSettings
		cluster  ClusterSettings
		want     string
		changes  []string
		err      string
	}{
		{
			name: "new, cgroup v1, cgroupfs", settings: v1cgroupfs,
			want: `apiVersion: kubelet.config.k8s.io/v1beta1
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
clusterDomain: cluster.local
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failCgroupV1: false
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`,
			changes: []string{"cgroupDriver: cgroupfs", "failCgroupV1: false", "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock"},
		},
		{
			name: "new, cgroup v2, systemd: no failCgroupV1", settings: v2systemd, cluster: ClusterSettings{DNS: []string{"10.96.0.10"}},
			want: `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`,
			changes: []string{"cgroupDriver: systemd", "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock"},
		},
		{
			name: "merge into kubeadm's, cgroup v1, cgroupfs", existing: kubeadmConfig, settings: KubeletSettings{CgroupDriver: "cgroupfs", CgroupV1: true},
			want: strings.Replace(strings.Replace(kubeadmConfig, "cgroupDriver: systemd", "cgroupDriver: cgroupfs", 1),
				"kind:", "failCgroupV1: false\nkind:", 1),
			changes: []string{"cgroupDriver: cgroupfs (was systemd)", "failCgroupV1: false"},
		},
		{
			name: "already agrees", existing: kubeadmConfig, settings: KubeletSettings{CgroupDriver: "systemd", ContainerRuntimeEndpoint: "unix:///var/run/containerd/containerd.sock"},
			want: kubeadmConfig,
		},
		{
			name: "failCgroupV1 true on v1 is turned off", existing: "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: true\n",
			settings: KubeletSettings{CgroupV1: true},
			want:     "apiVersion: kubelet.config.k8s.io/v1beta1\nfailCgroupV1: false\nkind: KubeletConfiguration\n",
			changes:  []string{"failCgroupV1: false (was true)"},
		},
		{
			name: "JSON is accepted", existing: `{"apiVersion":"kubelet.config.k8s.io/v1beta1","kind":"KubeletConfiguration","maxPods":250}`,
			settings: KubeletSettings{CgroupDriver: "cgroupfs"},
			want:     "apiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: cgroupfs\nkind: KubeletConfiguration\nmaxPods: 250\n",
			changes:  []string{"cgroupDriver: cgroupfs"},
		},
		{name: "wrong kind", existing: "apiVersion: v1\nkind: ConfigMap\n", err: "kubelet configuration has kind ConfigMap, want KubeletConfiguration"},
		{name: "wrong version", existing: "apiVersion: kubelet.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n", err: "kubelet configuration has apiVersion kubelet.config.k8s.io/v1alpha1, want kubelet.config.k8s.io/v1beta1"},
		{name: "not a mapping", existing: "- a\n- b\n", err: "kubelet configuration is not a YAML mapping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, changes, err := KubeletConfig([]byte(tt.existing), tt.settings, tt.cluster)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("config:\n%s\nwant:\n%s", out, tt.want)
			}
			if !slices.Equal(changes, tt.changes) {
				t.Errorf("changes = %q, want %q", changes, tt.changes)
			}
		})
	}
}

func TestPlanKubeletConfig(t *testing.T) {
	s := KubeletSettings{CgroupDriver: "cgroupfs", CgroupV1: true, ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"}
	dir := t.TempDir()
	path := filepath.Join(dir, "kubelet", "config.yaml")

	// Absent: created (with its directory).
	p, err := PlanKubeletConfig(path, s, ClusterSettings{}, false)
	if err != nil || p.Action != ConfigCreate {
		t.Fatalf("absent: %+v, %v", p, err)
	}
	if err := p.step().Do(context.Background(), testExecutor()); err != nil {
		t.Fatal(err)
	}
	if p, err := PlanKubeletConfig(path, s, ClusterSettings{}, false); err != nil || p.Action != ConfigSame {
		t.Fatalf("after writing: %+v, %v", p, err)
	}

	// An operator's file that disagrees is kept without --force, byte for byte.
	mine := "# mine\n" + kubeadmConfig
	if err := os.WriteFile(path, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = PlanKubeletConfig(path, s, ClusterSettings{}, false)
	if err != nil || p.Action != ConfigKeep || p.Content != nil {
		t.Fatalf("existing without force: %+v, %v", p, err)
	}
	if !strings.Contains(p.Describe(), "pass --force") || !strings.Contains(p.Describe(), "cgroupDriver: cgroupfs (was systemd)") {
		t.Errorf("Describe = %s", p.Describe())
	}
	if err := p.step().Do(context.Background(), testExecutor()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != mine {
		t.Fatalf("kept file changed:\n%s", b)
	}

	// --force merges, keeping the cluster's fields.
	p, err = PlanKubeletConfig(path, s, ClusterSettings{}, true)
	if err != nil || p.Action != ConfigMerge {
		t.Fatalf("existing with force: %+v, %v", p, err)
	}
	if err := p.step().Do(context.Background(), testExecutor()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"cgroupDriver: cgroupfs\n", "failCgroupV1: false\n", "clusterDNS:\n- 10.96.0.10\n", "maxPods: 110\n",
		"containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("merged config lacks %q:\n%s", want, b)
		}
	}

	// Unreadable is an error, not a silent overwrite.
	if err := os.WriteFile(path, []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanKubeletConfig(path, s, ClusterSettings{}, true); err == nil {
		t.Error("malformed YAML: want an error")
	}
}

func TestKubeletPatch(t *testing.T) {
	for _, tt := range []struct {
		s    KubeletSettings
		want string
	}{
		{KubeletSettings{CgroupDriver: "cgroupfs", CgroupV1: true, ContainerRuntimeEndpoint: "unix:///x"}, "cgroupDriver: cgroupfs\nfailCgroupV1: false\n"},
		{KubeletSettings{CgroupDriver: "systemd"}, "cgroupDriver: systemd\n"},
	} {
		got, err := KubeletPatch(tt.s)
		if err != nil || string(got) != tt.want {
			t.Errorf("KubeletPatch(%+v) = %q, %v; want %q", tt.s, got, err, tt.want)
		}
	}
}
