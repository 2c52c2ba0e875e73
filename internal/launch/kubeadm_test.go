package launch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseKubeadmFlags(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "what kubeadm writes (%q)",
			in:   `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --hostname-override=node-1 --register-with-taints=a=b:NoSchedule"` + "\n",
			want: []string{"--container-runtime-endpoint=unix:///run/containerd/containerd.sock", "--hostname-override=node-1", "--register-with-taints=a=b:NoSchedule"}},
		{name: "empty value", in: `KUBELET_KUBEADM_ARGS=""` + "\n", want: nil},
		{name: "escaped quote", in: `KUBELET_KUBEADM_ARGS="--node-labels=a=\"b\""`, want: []string{`--node-labels=a="b"`}},
		{name: "unquoted, single-quoted, comments, other variables",
			in:   "# written by hand\nOTHER=x\n\nKUBELET_KUBEADM_ARGS='--v=2  --node-ip 10.0.0.2'\n",
			want: []string{"--v=2", "--node-ip", "10.0.0.2"}},
		{name: "split as the shell splits", in: "KUBELET_KUBEADM_ARGS=--a --b=c", want: []string{"--a", "--b=c"}},
		{name: "last assignment wins", in: "KUBELET_KUBEADM_ARGS=--a\nKUBELET_KUBEADM_ARGS=--b\n", want: []string{"--b"}},
		{name: "missing", in: "OTHER=1\n", err: "kubeadm-flags.env has no KUBELET_KUBEADM_ARGS"},
		{name: "not an assignment", in: "--v=2\n", err: `kubeadm-flags.env line 1: want NAME=VALUE, got "--v=2"`},
		{name: "bad quoting", in: `KUBELET_KUBEADM_ARGS="--v=2`, err: `kubeadm-flags.env line 1: bad quoting in "--v=2`},
		{name: "unterminated single quote", in: `KUBELET_KUBEADM_ARGS='--v=2`, err: `kubeadm-flags.env line 1: unterminated quote in '--v=2`},
	} {
		got, err := ParseKubeadmFlags(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error = %v, want %s", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestReadKubeadmFlags(t *testing.T) {
	dir := t.TempDir()
	if args, err := ReadKubeadmFlags(filepath.Join(dir, "absent")); args != nil || err != nil {
		t.Errorf("absent file: %q, %v", args, err)
	}
	p := filepath.Join(dir, "kubeadm-flags.env")
	os.WriteFile(p, []byte("nonsense\n"), 0o644)
	if _, err := ReadKubeadmFlags(p); err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Errorf("malformed file: error %v should name it", err)
	}
}

func TestJoinArgs(t *testing.T) {
	user := []string{"10.0.0.1:6443", "--token", "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", "sha256:00"}
	for _, tt := range []struct {
		name string
		host Host
		args []string
		want []string
		err  string
	}{
		{name: "cgroup v2", host: Host{CgroupV2: true}, args: user,
			want: append(append([]string{"join"}, user...), "--skip-phases=kubelet-wait-bootstrap", "--ignore-preflight-errors=FileExisting-cp", "--cri-socket=unix:///run/containerd/containerd.sock", "--patches=/var/lib/kubelet/ckubelet-patches")},
		{name: "cgroup v1 skips SystemVerification", host: Host{}, args: user,
			want: append(append([]string{"join"}, user...), "--skip-phases=kubelet-wait-bootstrap", "--ignore-preflight-errors=FileExisting-cp,SystemVerification", "--cri-socket=unix:///run/containerd/containerd.sock", "--patches=/var/lib/kubelet/ckubelet-patches")},
		{name: "the user's --cri-socket", host: Host{CgroupV2: true}, args: []string{"x:6443", "--cri-socket", "unix:///run/crio/crio.sock"},
			want: []string{"join", "x:6443", "--cri-socket", "unix:///run/crio/crio.sock", "--skip-phases=kubelet-wait-bootstrap", "--ignore-preflight-errors=FileExisting-cp", "--patches=/var/lib/kubelet/ckubelet-patches"}},
		{name: "--config cannot be mixed with --cri-socket or --patches", host: Host{CgroupV2: true}, args: []string{"--config=/etc/kubernetes/join.yaml"},
			want: []string{"join", "--config=/etc/kubernetes/join.yaml", "--skip-phases=kubelet-wait-bootstrap", "--ignore-preflight-errors=FileExisting-cp"}},
		{name: "control plane", args: []string{"x:6443", "--control-plane"}, err: "join --control-plane is not supported: kubeadm would need kubelet running during its control-plane phases"},
	} {
		got, err := JoinArgs(JoinOptions{CRI: CRIs["containerd"], Host: tt.host, Args: tt.args})
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error = %v, want %s", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q, %v\nwant %q", tt.name, got, err, tt.want)
		}
	}
}

func TestJoinSpec(t *testing.T) {
	s, err := JoinSpec(JoinOptions{Image: "k:v1.37.2", CRI: CRIs["containerd"], Host: Host{CgroupV2: true}, Args: []string{"x:6443"},
		Exists: func(p string) bool { return p == "/lib/modules" }})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Privileged || !s.HostNetwork || !s.HostUTS || !s.Remove || s.Restart != RestartNo || !slices.Equal(s.Entrypoint, []string{"/usr/bin/kubeadm"}) {
		t.Errorf("spec: %+v", s)
	}
	var got []string
	for _, m := range s.Mounts {
		got = append(got, mountLine(m))
	}
	want := []string{"/etc/kubernetes:/etc/kubernetes:rw", "/var/lib/kubelet:/var/lib/kubelet:rw", "/run:/run:rw,rslave", "/lib/modules:/lib/modules:ro"}
	if !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
}

func TestCheckJoinImage(t *testing.T) {
	for _, tt := range []struct {
		ref  string
		args []string
		ok   bool
	}{
		{"kubelet:v1.37.2-kubeadm-trixie", nil, true},
		{"registry.example/kubelet:v1.33.0-kubeadm-trixie", nil, true},
		{"kubelet:latest", nil, true}, // unknown version: let kubeadm try
		{"kubelet:v1.32.4-kubeadm-trixie", nil, false},
		{"kubelet:v1.32.4-kubeadm-trixie", []string{"--feature-gates=ControlPlaneKubeletLocalMode=true"}, true},
		{"kubelet:v1.26.0-kubeadm-trixie", []string{"--feature-gates=ControlPlaneKubeletLocalMode=true"}, false},
	} {
		if err := CheckJoinImage(tt.ref, tt.args); (err == nil) != tt.ok {
			t.Errorf("CheckJoinImage(%s, %q) = %v, want ok=%v", tt.ref, tt.args, err, tt.ok)
		}
	}
}
