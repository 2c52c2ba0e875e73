package launch

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCISpec checks the spec the containerd launcher creates the kubelet container with.
func TestOCISpec(t *testing.T) {
	s := testKubelet()
	sp, err := OCISpec(s, "k8s.io")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("privileged", func(t *testing.T) {
		if sp.Linux.MaskedPaths != nil || sp.Linux.ReadonlyPaths != nil || sp.Linux.Seccomp != nil {
			t.Errorf("masked %q readonly %q seccomp %v", sp.Linux.MaskedPaths, sp.Linux.ReadonlyPaths, sp.Linux.Seccomp)
		}
		if sp.Process.NoNewPrivileges {
			t.Error("no_new_privs set")
		}
		// WithPrivileged grants what this process has (all of them when root, as ckubelet runs).
		ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
		current, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "x"}, oci.WithAllCurrentCapabilities)
		if err == nil && !slices.Equal(sp.Process.Capabilities.Bounding, current.Process.Capabilities.Bounding) {
			t.Errorf("bounding capabilities %q, want the current set %q", sp.Process.Capabilities.Bounding, current.Process.Capabilities.Bounding)
		}
		if os.Geteuid() == 0 && !slices.Contains(sp.Process.Capabilities.Effective, "CAP_SYS_ADMIN") {
			t.Error("no CAP_SYS_ADMIN")
		}
		devs := sp.Linux.Resources.Devices
		if len(devs) == 0 || !devs[len(devs)-1].Allow || devs[len(devs)-1].Access != "rwm" || devs[len(devs)-1].Type != "" {
			t.Errorf("device cgroup does not allow all: %+v", devs)
		}
		if sp.Process.Rlimits != nil {
			t.Errorf("rlimits %+v: want the daemon's", sp.Process.Rlimits)
		}
	})

	t.Run("host namespaces", func(t *testing.T) {
		var own []specs.LinuxNamespaceType
		for _, ns := range sp.Linux.Namespaces {
			own = append(own, ns.Type)
		}
		if !slices.Equal(own, []specs.LinuxNamespaceType{specs.MountNamespace}) {
			t.Errorf("namespaces of its own: %q, want only mount", own)
		}
		if sp.Hostname != "" {
			t.Errorf("hostname %q would rename the host", sp.Hostname)
		}
	})

	t.Run("rootfs propagation", func(t *testing.T) {
		if sp.Linux.RootfsPropagation != "rshared" {
			t.Errorf("rootfsPropagation = %q, want rshared", sp.Linux.RootfsPropagation)
		}
	})

	t.Run("mounts", func(t *testing.T) {
		var got []string
		for _, m := range sp.Mounts {
			got = append(got, fmt.Sprintf("%s %s %s %s", m.Type, m.Source, m.Destination, strings.Join(m.Options, ",")))
		}
		want := []string{
			"proc proc /proc nosuid,noexec,nodev",
			"sysfs sysfs /sys nosuid,noexec,nodev,rw", // writable: privileged
			// no default tmpfs /dev, /dev/pts, /dev/shm, /dev/mqueue, /run: the binds replace them
			"bind /var/lib/kubelet /var/lib/kubelet rbind,rw,rshared",
			"bind /etc/kubernetes /etc/kubernetes rbind,rw",
			"bind /var/log/pods /var/log/pods rbind,rw",
			"bind /var/log/containers /var/log/containers rbind,rw",
			"bind /sys/fs/cgroup /sys/fs/cgroup rbind,rw,rslave",
			"bind /run /run rbind,rw,rslave",
			"bind /var/lib/containerd /var/lib/containerd rbind,ro,rslave",
			"bind /dev /dev rbind,rw,rslave",
			"bind /etc/cni/net.d /etc/cni/net.d rbind,rw",
			"bind /opt/cni/bin /host/opt/cni/bin rbind,rw",
			"bind /lib/modules /lib/modules rbind,ro",
			"bind /etc/machine-id /etc/machine-id rbind,ro",
			"bind /etc/os-release /etc/os-release rbind,ro",
			"bind /srv/data /srv/data rbind,rw,rshared",
			// After the binds, as ctr --net-host puts them.
			"bind /etc/hosts /etc/hosts rbind,ro",
			"bind /etc/resolv.conf /etc/resolv.conf rbind,ro",
		}
		if !slices.Equal(got, want) {
			t.Errorf("mounts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("process", func(t *testing.T) {
		// Without an image (print), the args are the spec's: the image's entrypoint is merged in
		// at creation.
		if !slices.Equal(sp.Process.Args, []string{"--v=2", "--node-labels=team=it's"}) {
			t.Errorf("args %q", sp.Process.Args)
		}
		if sp.Linux.CgroupsPath != "/k8s.io/kubelet" {
			t.Errorf("cgroups path %q", sp.Linux.CgroupsPath)
		}
	})
}

func TestOCISpecKubeadm(t *testing.T) {
	join, err := JoinSpec(JoinOptions{Image: "k", CRI: CRIs["containerd"], Args: []string{"x:6443"}, Exists: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := OCISpec(join, "k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Process.Args[0] != "/usr/bin/kubeadm" || sp.Process.Args[1] != "join" {
		t.Errorf("args %q", sp.Process.Args)
	}
	if sp.Linux.RootfsPropagation != "" {
		t.Errorf("rootfs propagation %q for kubeadm, want the default", sp.Linux.RootfsPropagation)
	}
	var own []specs.LinuxNamespaceType
	for _, ns := range sp.Linux.Namespaces {
		own = append(own, ns.Type)
	}
	// kubeadm keeps its own IPC namespace: it needs none of the host's.
	if !slices.Equal(own, []specs.LinuxNamespaceType{specs.IPCNamespace, specs.MountNamespace}) {
		t.Errorf("namespaces %q", own)
	}
}
