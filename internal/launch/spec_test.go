package launch

import (
	"fmt"
	"slices"
	"testing"
)

func TestParseMount(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mount
		err  string
	}{
		{in: "/srv/data", want: Mount{Source: "/srv/data", Destination: "/srv/data", Propagation: RShared}},
		{in: "/srv/data/", want: Mount{Source: "/srv/data", Destination: "/srv/data", Propagation: RShared}},
		{in: "/srv/data:/data", want: Mount{Source: "/srv/data", Destination: "/data", Propagation: RShared}},
		{in: "/srv/data::ro", want: Mount{Source: "/srv/data", Destination: "/srv/data", ReadOnly: true, Propagation: RShared}},
		{in: "/srv/data:/srv/data:ro,rslave", want: Mount{Source: "/srv/data", Destination: "/srv/data", ReadOnly: true, Propagation: RSlave}},
		{in: "/srv/data:/srv/data:rprivate,rw", want: Mount{Source: "/srv/data", Destination: "/srv/data", Propagation: RPrivate}},

		{in: "", err: `--mount "": empty source path`},
		{in: "srv/data", err: `--mount "srv/data": source "srv/data" is not an absolute path`},
		{in: "/srv:data", err: `--mount "/srv:data": destination "data" is not an absolute path`},
		{in: "/a:/b:ro:x", err: `--mount "/a:/b:ro:x": want SRC[:DST[:OPTS]] (paths cannot contain ':')`},
		{in: "/a:/b:ro,rw", err: `--mount "/a:/b:ro,rw": both ro and rw`},
		{in: "/a:/b:rshared,rslave", err: `--mount "/a:/b:rshared,rslave": both rshared and rslave`},
		{in: "/a:/b:shared", err: `--mount "/a:/b:shared": option "shared": use rshared (the mount's submounts must follow)`},
		{in: "/a:/b:z", err: `--mount "/a:/b:z": unknown option "z" (want ro, rw, rshared, rslave, rprivate)`},
		{in: "/a:/b:", err: `--mount "/a:/b:": unknown option "" (want ro, rw, rshared, rslave, rprivate)`},
		{in: "/a:/", err: `--mount "/a:/": cannot mount over the container's root`},
	} {
		got, err := ParseMount(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseMount(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMount(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// mountLine renders a mount for comparison: "SRC:DST:OPTS[:file]".
func mountLine(m Mount) string {
	s := fmt.Sprintf("%s:%s:%s", m.Source, m.Destination, m.Options())
	if m.File {
		s += ":file"
	}
	return s
}

func TestKubeletSpec(t *testing.T) {
	s := KubeletSpec(KubeletOptions{Image: "kubelet:v1", CRI: CRIs["crio"], Args: []string{"--v=2"}, Env: []string{"A=b"},
		Exists: func(p string) bool { return p != "/etc/machine-id" }})
	if !s.Privileged || !s.HostNetwork || !s.HostPID || !s.HostIPC || !s.HostUTS || !s.HostCgroupNS {
		t.Errorf("namespaces/privileges: %+v", s)
	}
	if s.Name != "kubelet" || s.RootfsPropagation != RShared || s.Restart != RestartAlways || s.Remove || s.Entrypoint != nil {
		t.Errorf("spec: %+v", s)
	}
	if !slices.Equal(s.Args, []string{"--v=2"}) || !slices.Equal(s.Env, []string{"A=b"}) {
		t.Errorf("args %q env %q", s.Args, s.Env)
	}
	var got []string
	for _, m := range s.Mounts {
		got = append(got, mountLine(m))
	}
	want := []string{
		"/var/lib/kubelet:/var/lib/kubelet:rw,rshared",
		"/etc/kubernetes:/etc/kubernetes:rw",
		"/var/log/pods:/var/log/pods:rw",
		"/var/log/containers:/var/log/containers:rw",
		"/sys/fs/cgroup:/sys/fs/cgroup:rw,rslave",
		"/run:/run:rw,rslave",
		"/var/lib/containers:/var/lib/containers:ro,rslave", // CRI-O's storage
		"/dev:/dev:rw,rslave",
		"/etc/cni/net.d:/etc/cni/net.d:rw",
		"/opt/cni/bin:/host/opt/cni/bin:rw", // not over the image's /opt/cni/bin
		"/lib/modules:/lib/modules:ro",
		// no /etc/machine-id: absent
		"/etc/os-release:/etc/os-release:ro:file",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mounts:\n%q\nwant:\n%q", got, want)
	}
}

func TestKubeletSpecMounts(t *testing.T) {
	none := func(string) bool { return false }
	t.Run("socket outside /run gets its directory", func(t *testing.T) {
		cri, err := LookupCRI("containerd", "/var/snap/containerd/containerd.sock")
		if err != nil {
			t.Fatal(err)
		}
		s := KubeletSpec(KubeletOptions{Image: "i", CRI: cri, Exists: none})
		last := s.Mounts[len(s.Mounts)-1]
		if mountLine(last) != "/var/snap/containerd:/var/snap/containerd:rw,rslave" {
			t.Errorf("last mount = %s", mountLine(last))
		}
		if !s.visible("/var/snap/containerd/containerd.sock") {
			t.Error("socket not visible")
		}
	})
	t.Run("--mount replaces a built-in destination and adds others", func(t *testing.T) {
		s := KubeletSpec(KubeletOptions{Image: "i", CRI: CRIs["containerd"], Exists: none, Mounts: []Mount{
			{Source: "/etc/cni/net.d", Destination: "/etc/cni/net.d", ReadOnly: true},
			{Source: "/mnt/disks", Destination: "/mnt/disks", Propagation: RShared},
		}})
		var got []string
		for _, m := range s.Mounts {
			got = append(got, mountLine(m))
		}
		if !slices.Contains(got, "/etc/cni/net.d:/etc/cni/net.d:ro") || slices.Contains(got, "/etc/cni/net.d:/etc/cni/net.d:rw") {
			t.Errorf("replacement missing: %q", got)
		}
		if got[len(got)-1] != "/mnt/disks:/mnt/disks:rw,rshared" {
			t.Errorf("added mount missing: %q", got)
		}
	})
	t.Run("visible", func(t *testing.T) {
		s := KubeletSpec(KubeletOptions{Image: "i", CRI: CRIs["containerd"], Exists: none})
		for p, want := range map[string]bool{
			"/var/lib/kubelet/config.yaml": true,
			"/etc/kubernetes/kubelet.yaml": true,
			"/var/lib/kubeletx/config":     false,
			"/etc/kubelet.yaml":            false,
			"/opt/cni/bin/bridge":          false, // mounted elsewhere
		} {
			if got := s.visible(p); got != want {
				t.Errorf("visible(%s) = %v, want %v", p, got, want)
			}
		}
	})
}

func TestLookupCRI(t *testing.T) {
	for _, tt := range []struct{ name, socket, want, err string }{
		{"containerd", "", "unix:///run/containerd/containerd.sock", ""},
		{"crio", "", "unix:///run/crio/crio.sock", ""},
		{"containerd", "unix:///var/run/containerd/containerd.sock", "unix:///var/run/containerd/containerd.sock", ""},
		{"containerd", "/x//c.sock", "unix:///x/c.sock", ""},
		{"docker", "", "", `unknown CRI runtime "docker": want containerd or crio`},
		{"containerd", "c.sock", "", `CRI socket "c.sock": want an absolute path or unix:///path`},
	} {
		c, err := LookupCRI(tt.name, tt.socket)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("LookupCRI(%s, %s) error = %v, want %s", tt.name, tt.socket, err, tt.err)
			}
			continue
		}
		if err != nil || c.Endpoint != tt.want {
			t.Errorf("LookupCRI(%s, %s) = %s, %v; want %s", tt.name, tt.socket, c.Endpoint, err, tt.want)
		}
	}
}
