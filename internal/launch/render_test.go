package launch

import (
	"context"
	"strings"
	"testing"
)

func allExist(string) bool { return true }

// testKubelet is the kubelet spec the goldens render: every optional mount present, two arguments,
// one of which needs quoting.
func testKubelet() Spec {
	return KubeletSpec(KubeletOptions{
		Image:  "kubelet:v1.37.2-trixie",
		CRI:    CRIs["containerd"],
		Mounts: []Mount{{Source: "/srv/data", Destination: "/srv/data", Propagation: RShared}},
		Args:   []string{"--v=2", "--node-labels=team=it's"},
		Exists: allExist,
	})
}

// kubeletFlags are the lines every engine's command line shares after its "run".
const kubeletFlags = `    --privileged \
    --network=host \
    --pid=host \
    --ipc=host \
    --uts=host \
    --cgroupns=host \
    --volume /var/lib/kubelet:/var/lib/kubelet:rw,rshared \
    --volume /etc/kubernetes:/etc/kubernetes:rw \
    --volume /var/log/pods:/var/log/pods:rw \
    --volume /var/log/containers:/var/log/containers:rw \
    --volume /sys/fs/cgroup:/sys/fs/cgroup:rw,rslave \
    --volume /run:/run:rw,rslave \
    --volume /var/lib/containerd:/var/lib/containerd:ro,rslave \
    --volume /dev:/dev:rw,rslave \
    --volume /etc/cni/net.d:/etc/cni/net.d:rw \
    --volume /opt/cni/bin:/host/opt/cni/bin:rw \
    --volume /lib/modules:/lib/modules:ro \
    --volume /etc/machine-id:/etc/machine-id:ro \
    --volume /etc/os-release:/etc/os-release:ro \
    --volume /srv/data:/srv/data:rw,rshared \
`

func TestCLICommandLines(t *testing.T) {
	detached := `    --detach \
    --name kubelet \
    --restart=always \
` + kubeletFlags + `    kubelet:v1.37.2-trixie --v=2 '--node-labels=team=it'\''s'`
	tests := []struct {
		engine Engine
		want   string
	}{
		{Docker, "docker run \\\n" + detached},
		{Podman, "podman run \\\n" + detached},
		{Nerdctl, "nerdctl --namespace k8s.io run \\\n" + detached},
	}
	for _, tt := range tests {
		t.Run(string(tt.engine), func(t *testing.T) {
			e := testEngine(t, tt.engine)
			if got := ShellCommand(e.(*cliEngine).runArgs(testKubelet(), true)); got != tt.want {
				t.Errorf("command line:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestOneShotCommandLine(t *testing.T) {
	join, err := JoinSpec(JoinOptions{Image: "kubelet:v1.37.2-kubeadm-trixie", CRI: CRIs["containerd"], Host: Host{CgroupV2: true},
		Args: []string{"10.0.0.1:6443", "--token", "abcdef.0123456789abcdef"}, Exists: allExist})
	if err != nil {
		t.Fatal(err)
	}
	groups := testEngine(t, Docker).(*cliEngine).runArgs(join, false)
	want := `docker run \
    --rm \
    --name kubeadm-join \
    --privileged \
    --network=host \
    --pid=host \
    --uts=host \
    --volume /etc/kubernetes:/etc/kubernetes:rw \
    --volume /var/lib/kubelet:/var/lib/kubelet:rw \
    --volume /run:/run:rw,rslave \
    --volume /lib/modules:/lib/modules:ro \
    --volume /boot:/boot:ro \
    --entrypoint /usr/bin/kubeadm \
    kubelet:v1.37.2-kubeadm-trixie join 10.0.0.1:6443 --token abcdef.0123456789abcdef --skip-phases=kubelet-wait-bootstrap --ignore-preflight-errors=FileExisting-cp --cri-socket=unix:///run/containerd/containerd.sock --patches=/var/lib/kubelet/ckubelet-patches`
	if got := ShellCommand(groups); got != want {
		t.Errorf("command line:\n%s\nwant:\n%s", got, want)
	}
}

func TestSystemdUnitDocker(t *testing.T) {
	unit, err := testUnit(t, Docker, SystemdSpec(testKubelet()), CRIs["containerd"])
	if err != nil {
		t.Fatal(err)
	}
	want := `# kubelet in a docker container, written by ckubelet.
[Unit]
Description=kubelet (kubelet:v1.37.2-trixie in docker)
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
Wants=network-online.target
After=network-online.target docker.service containerd.service
Requires=docker.service

[Service]
# Written by kubeadm join; the leading - lets the unit start without it.
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStartPre=/usr/bin/mkdir -p /var/lib/kubelet /etc/kubernetes /etc/kubernetes/manifests /var/log/pods /var/log/containers /var/lib/containerd /etc/cni/net.d /opt/cni/bin /srv/data
ExecStartPre=-/usr/bin/docker rm --force kubelet
ExecStart=/usr/bin/docker run \
    --rm \
    --name kubelet \
` + kubeletFlags + `    kubelet:v1.37.2-trixie $KUBELET_KUBEADM_ARGS --v=2 "--node-labels=team=it's"
ExecStop=/usr/bin/docker stop kubelet
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`
	if unit != want {
		t.Errorf("unit:\n%s\nwant:\n%s", unit, want)
	}
}

func TestSystemdUnitCtr(t *testing.T) {
	s := SystemdSpec(KubeletSpec(KubeletOptions{Image: "kubelet:v1", CRI: CRIs["containerd"], Exists: func(string) bool { return false }}))
	if _, err := testUnit(t, Containerd, s, CRIs["containerd"]); err == nil || !strings.Contains(err.Error(), "entrypoint") {
		t.Fatalf("ctr without the image's entrypoint and no containerd: err = %v", err)
	}
	s.Entrypoint = []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"}
	unit, err := testUnit(t, Containerd, s, CRI{}, func(n string) string { return "/bin/" + n })
	if err != nil {
		t.Fatal(err)
	}
	want := `# kubelet in a containerd container, written by ckubelet.
[Unit]
Description=kubelet (kubelet:v1 in containerd)
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
Wants=network-online.target
After=network-online.target containerd.service
Requires=containerd.service

[Service]
# Written by kubeadm join; the leading - lets the unit start without it.
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStartPre=/bin/mkdir -p /var/lib/kubelet /etc/kubernetes /etc/kubernetes/manifests /var/log/pods /var/log/containers /var/lib/containerd /etc/cni/net.d /opt/cni/bin
ExecStartPre=-/bin/ctr --namespace k8s.io tasks delete --force kubelet
ExecStartPre=-/bin/ctr --namespace k8s.io containers delete kubelet
ExecStart=/bin/ctr --namespace k8s.io run \
    --rm \
    --label io.ckubelet.launched-by=ckubelet \
    --privileged \
    --allow-new-privs \
    --cpu-shares 0 \
    --net-host \
    --with-ns pid:/proc/self/ns/pid \
    --with-ns ipc:/proc/self/ns/ipc \
    --with-ns uts:/proc/self/ns/uts \
    --rootfs-propagation rshared \
    --mount type=bind,src=/var/lib/kubelet,dst=/var/lib/kubelet,options=rbind:rw:rshared \
    --mount type=bind,src=/etc/kubernetes,dst=/etc/kubernetes,options=rbind:rw \
    --mount type=bind,src=/var/log/pods,dst=/var/log/pods,options=rbind:rw \
    --mount type=bind,src=/var/log/containers,dst=/var/log/containers,options=rbind:rw \
    --mount type=bind,src=/sys/fs/cgroup,dst=/sys/fs/cgroup,options=rbind:rw:rslave \
    --mount type=bind,src=/run,dst=/run,options=rbind:rw:rslave \
    --mount type=bind,src=/var/lib/containerd,dst=/var/lib/containerd,options=rbind:ro:rslave \
    --mount type=bind,src=/dev,dst=/dev,options=rbind:rw:rslave \
    --mount type=bind,src=/etc/cni/net.d,dst=/etc/cni/net.d,options=rbind:rw \
    --mount type=bind,src=/opt/cni/bin,dst=/host/opt/cni/bin,options=rbind:rw \
    docker.io/library/kubelet:v1 kubelet /usr/bin/kubelet --config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`
	if unit != want {
		t.Errorf("unit:\n%s\nwant:\n%s", unit, want)
	}
}

func TestSystemdUnitPodmanAndNerdctl(t *testing.T) {
	for _, tt := range []struct {
		engine     Engine
		want, deny []string
	}{
		{Podman,
			[]string{"After=network-online.target crio.service\n", "ExecStartPre=-/usr/bin/podman rm --force kubelet\n", "ExecStart=/usr/bin/podman run \\\n    --rm \\\n", "ExecStop=/usr/bin/podman stop kubelet\n"},
			[]string{"Requires=", "--restart", "--detach"}},
		{Nerdctl,
			[]string{"After=network-online.target containerd.service\n", "Requires=containerd.service\n", "ExecStartPre=-/usr/bin/nerdctl --namespace k8s.io rm --force kubelet\n",
				"ExecStart=/usr/bin/nerdctl --namespace k8s.io run \\\n", "ExecStop=/usr/bin/nerdctl --namespace k8s.io stop kubelet\n"},
			[]string{"--restart", "--detach"}},
	} {
		t.Run(string(tt.engine), func(t *testing.T) {
			cri := CRIs["containerd"]
			if tt.engine == Podman {
				cri = CRIs["crio"]
			}
			s := SystemdSpec(KubeletSpec(KubeletOptions{Image: "kubelet:v1", CRI: cri, Exists: allExist}))
			unit, err := testUnit(t, tt.engine, s, cri)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(unit, w) {
					t.Errorf("unit lacks %q:\n%s", w, unit)
				}
			}
			for _, d := range tt.deny {
				if strings.Contains(unit, d) {
					t.Errorf("unit has %q:\n%s", d, unit)
				}
			}
		})
	}
}

func TestQuoting(t *testing.T) {
	for _, tt := range []struct{ in, shell, systemd string }{
		{"--v=2", "--v=2", "--v=2"},
		{"", "''", `""`},
		{"a b", "'a b'", `"a b"`},
		{"it's", `'it'\''s'`, `"it's"`},
		{`say "hi"`, `'say "hi"'`, `"say \"hi\""`},
		{"100%", "100%", "100%%"},
		{"$HOME", "'$HOME'", "$$HOME"},
		{"a;b", "'a;b'", `"a;b"`},
		{`back\slash`, `'back\slash'`, `"back\\slash"`},
		{KubeadmArgsPlaceholder, KubeadmArgsPlaceholder, KubeadmArgsPlaceholder},
	} {
		if got := ShellQuote(tt.in); got != tt.shell {
			t.Errorf("ShellQuote(%q) = %s, want %s", tt.in, got, tt.shell)
		}
		if got := systemdQuote(tt.in); got != tt.systemd {
			t.Errorf("systemdQuote(%q) = %s, want %s", tt.in, got, tt.systemd)
		}
	}
}

// testEngine is the runtime --runtime systemd --engine e wraps.
func testEngine(t *testing.T, e Engine) unitEngine {
	t.Helper()
	rt, err := newRuntime(&Options{Runtime: "systemd", Engine: e, Containerd: ContainerdOptions{Namespace: "k8s.io"}})
	if err != nil {
		t.Fatal(err)
	}
	return rt.(*systemdRuntime).engine
}

// testUnit renders the unit of s for engine e.
func testUnit(t *testing.T, e Engine, s Spec, cri CRI, binary ...func(string) string) (string, error) {
	t.Helper()
	o := &Options{Runtime: "systemd", Engine: e, CRI: cri, Containerd: ContainerdOptions{Namespace: "k8s.io"}}
	if len(binary) > 0 {
		o.Binary = binary[0]
	}
	rt, err := newRuntime(o)
	if err != nil {
		t.Fatal(err)
	}
	return rt.(*systemdRuntime).unit(context.Background(), testExecutor(), s)
}

// TestUnit renders a bundle's units offline: no host, no engine, containerd's from the given
// entrypoint.
func TestUnit(t *testing.T) {
	entrypoint := []string{"/usr/bin/cni-install", "--", "/usr/bin/kubelet"}
	for _, e := range []Engine{Containerd, Docker, Podman} {
		u, err := Unit(Options{Engine: e, Image: "kubelet:v1.37.2-cni-trixie"}, entrypoint)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		for _, want := range []string{"[Unit]", "ExecStart=/usr/bin/", "kubelet:v1.37.2-cni-trixie", "Restart=always", "WantedBy=multi-user.target"} {
			if !strings.Contains(u, want) {
				t.Errorf("%s unit lacks %q:\n%s", e, want, u)
			}
		}
		if e == Containerd && !strings.Contains(u, "/usr/bin/cni-install") {
			t.Errorf("ctr unit without the entrypoint:\n%s", u)
		}
	}
}
