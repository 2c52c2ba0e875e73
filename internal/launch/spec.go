package launch

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Spec is the kubelet (or kubeadm) container, independent of the runtime that runs it.
type Spec struct {
	Name  string // container name
	Image string // image reference
	// Entrypoint replaces the image's entrypoint when non-nil (kubeadm in a kubeadm flavor).
	Entrypoint []string
	// Args follow the entrypoint, replacing the image's Cmd, as with `docker run IMAGE ARGS`.
	Args []string
	Env  []string // KEY=value, added to the image's environment

	Privileged   bool
	HostNetwork  bool
	HostPID      bool
	HostIPC      bool
	HostUTS      bool // the node name is the host name
	HostCgroupNS bool // kubelet must see the real cgroup paths (docker defaults to private on v2)
	// RootfsPropagation is the propagation of the container's root mount. rshared mounts only
	// propagate to the host if the root is shared too; docker, podman and nerdctl set it
	// themselves for an rshared volume, containerd's client does not.
	RootfsPropagation Propagation

	Mounts []Mount

	Restart RestartPolicy
	Remove  bool // delete the container when it exits (one-shot, and systemd-managed ones)
}

// Propagation is a bind mount's mount propagation.
type Propagation string

const (
	PropagationDefault Propagation = "" // the runtime's default (rprivate)
	RShared            Propagation = "rshared"
	RSlave             Propagation = "rslave"
	RPrivate           Propagation = "rprivate"
)

// RestartPolicy says when the runtime restarts the container.
type RestartPolicy string

const (
	RestartNo     RestartPolicy = "no"
	RestartAlways RestartPolicy = "always" // kubelet never exits on purpose; restart after crashes and reboots
)

// Mount is a bind mount of a host path.
type Mount struct {
	Source      string // host path
	Destination string // path in the container
	ReadOnly    bool
	Propagation Propagation
	// File marks a mount of a single file: never created when missing (docker would create a
	// directory in its place). Directories are created before the container starts.
	File bool
}

// Options returns the mount's options in docker's -v syntax: "rw,rshared".
func (m Mount) Options() string {
	opts := "rw"
	if m.ReadOnly {
		opts = "ro"
	}
	if m.Propagation != PropagationDefault {
		opts += "," + string(m.Propagation)
	}
	return opts
}

// CRI is the container runtime kubelet manages pods with (not necessarily the one that runs the
// kubelet container: docker can run kubelet for containerd's CRI plugin).
type CRI struct {
	Name string
	// Endpoint is kubelet's containerRuntimeEndpoint.
	Endpoint string
	// StorageDir is where the runtime keeps images; kubelet measures it.
	StorageDir string
	// Service is the runtime's systemd unit, for unit ordering.
	Service string
}

// CRIs are the runtimes --cri accepts.
var CRIs = map[string]CRI{
	"containerd": {Name: "containerd", Endpoint: "unix:///run/containerd/containerd.sock", StorageDir: "/var/lib/containerd", Service: "containerd.service"},
	"crio":       {Name: "crio", Endpoint: "unix:///run/crio/crio.sock", StorageDir: "/var/lib/containers", Service: "crio.service"},
}

// LookupCRI returns the named CRI runtime; socket, when not empty, replaces its endpoint (a path or a
// unix:// URL).
func LookupCRI(name, socket string) (CRI, error) {
	c, ok := CRIs[name]
	if !ok {
		return CRI{}, fmt.Errorf("unknown CRI runtime %q: want containerd or crio", name)
	}
	if socket != "" {
		p := strings.TrimPrefix(socket, "unix://")
		if !path.IsAbs(p) {
			return CRI{}, fmt.Errorf("CRI socket %q: want an absolute path or unix:///path", socket)
		}
		c.Endpoint = "unix://" + path.Clean(p)
	}
	return c, nil
}

// SocketPath is the endpoint's file system path.
func (c CRI) SocketPath() string { return strings.TrimPrefix(c.Endpoint, "unix://") }

// socketDir is the directory of the socket, which a container must mount rather than the socket:
// a runtime restart replaces the socket file.
func (c CRI) socketDir() string {
	if c.Endpoint == "" {
		return ""
	}
	return path.Dir(c.SocketPath())
}

// Node paths the kubelet and kubeadm containers share (see catalog's image contract).
const (
	KubeletDir          = catalog.KubeletDir
	KubeletConfigPath   = catalog.KubeletConfigPath // what the image's entrypoint passes to --config
	KubeadmFlagsPath    = KubeletDir + "/kubeadm-flags.env"
	KubernetesDir       = catalog.KubernetesDir
	KubeletKubeconfig   = catalog.KubeletKubeconfig
	BootstrapKubeconfig = catalog.BootstrapKubeconfig
	// StaticPodDir is kubeadm's staticPodPath; kubelet logs an error every few seconds while it is
	// missing, and on package installs the kubelet package creates it.
	StaticPodDir = KubernetesDir + "/manifests"
)

// KubeletOptions are the inputs of KubeletSpec.
type KubeletOptions struct {
	Name   string // container name, default "kubelet"
	Image  string
	CRI    CRI
	Mounts []Mount  // --mount: added, or replacing a built-in mount with the same destination
	Env    []string // KEY=value
	Args   []string // appended to the image's kubelet command line
	// Exists reports whether a host path exists, for the optional mounts; nil uses os.Stat.
	Exists func(path string) bool
}

// KubeletSpec returns the kubelet container: privileged, in the host's namespaces, with the mounts
// of the table in the package documentation.
func KubeletSpec(o KubeletOptions) Spec {
	if o.Name == "" {
		o.Name = "kubelet"
	}
	exists := o.Exists
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	mounts := []Mount{
		same(KubeletDir, false, RShared),
		same(KubernetesDir, false, PropagationDefault),
		same("/var/log/pods", false, PropagationDefault),
		same("/var/log/containers", false, PropagationDefault),
		same("/sys/fs/cgroup", false, RSlave),
		same("/run", false, RSlave),
		same(o.CRI.StorageDir, true, RSlave),
		same("/dev", false, RSlave),
		same("/etc/cni/net.d", false, PropagationDefault),
		{Source: "/opt/cni/bin", Destination: catalog.HostCNIBinDir},
	}
	if dir := o.CRI.socketDir(); dir != "" && !under(dir, "/run") {
		// A socket outside /run (e.g. /var/run on a host where it is not a symlink) needs its own
		// mount.
		mounts = append(mounts, same(dir, false, RSlave))
	}
	for _, p := range []string{"/lib/modules"} {
		if exists(p) {
			mounts = append(mounts, same(p, true, PropagationDefault))
		}
	}
	for _, p := range []string{"/etc/machine-id", "/etc/os-release"} {
		if exists(p) {
			m := same(p, true, PropagationDefault)
			m.File = true
			mounts = append(mounts, m)
		}
	}
	return Spec{
		Name:              o.Name,
		Image:             o.Image,
		Args:              slices.Clone(o.Args),
		Env:               slices.Clone(o.Env),
		Privileged:        true,
		HostNetwork:       true,
		HostPID:           true,
		HostIPC:           true,
		HostUTS:           true,
		HostCgroupNS:      true,
		RootfsPropagation: RShared,
		Mounts:            withMounts(mounts, o.Mounts),
		Restart:           RestartAlways,
	}
}

func same(p string, ro bool, prop Propagation) Mount {
	return Mount{Source: p, Destination: p, ReadOnly: ro, Propagation: prop}
}

// withMounts adds extra to base; an extra mount with the destination of a base mount replaces it.
func withMounts(base, extra []Mount) []Mount {
	out := slices.Clone(base)
	for _, m := range extra {
		if i := slices.IndexFunc(out, func(b Mount) bool { return b.Destination == m.Destination }); i >= 0 {
			out[i] = m
		} else {
			out = append(out, m)
		}
	}
	return out
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// visible reports whether the container sees host path p at the same path through one of its
// mounts.
func (s Spec) visible(p string) bool {
	for _, m := range s.Mounts {
		if m.Source == m.Destination && under(p, m.Destination) {
			return true
		}
	}
	return false
}

// ParseMount parses --mount SRC[:DST[:OPTS]]. DST defaults to SRC: hostPath and local volumes must be
// at the same path inside, where kubelet looks for them. OPTS is a comma list of ro or rw and one of
// rshared, rslave, rprivate; the default is rw,rshared, so that kubelet's mounts reach the runtime.
func ParseMount(s string) (Mount, error) {
	fail := func(format string, args ...any) (Mount, error) {
		return Mount{}, fmt.Errorf("--mount %q: "+format, append([]any{s}, args...)...)
	}
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return fail("want SRC[:DST[:OPTS]] (paths cannot contain ':')")
	}
	m := Mount{Source: parts[0], Destination: parts[0], Propagation: RShared}
	if len(parts) > 1 && parts[1] != "" {
		m.Destination = parts[1]
	}
	for _, p := range []struct{ what, path string }{{"source", m.Source}, {"destination", m.Destination}} {
		if p.path == "" {
			return fail("empty %s path", p.what)
		}
		if !path.IsAbs(p.path) {
			return fail("%s %q is not an absolute path", p.what, p.path)
		}
	}
	m.Source, m.Destination = path.Clean(m.Source), path.Clean(m.Destination)
	if m.Destination == "/" {
		return fail("cannot mount over the container's root")
	}
	if len(parts) < 3 {
		return m, nil
	}
	var access, prop string
	for _, o := range strings.Split(parts[2], ",") {
		switch o {
		case "ro", "rw":
			if access != "" && access != o {
				return fail("both %s and %s", access, o)
			}
			access = o
		case "rshared", "rslave", "rprivate":
			if prop != "" && prop != o {
				return fail("both %s and %s", prop, o)
			}
			prop = o
		case "shared", "slave", "private":
			return fail("option %q: use r%s (the mount's submounts must follow)", o, o)
		default:
			return fail("unknown option %q (want ro, rw, rshared, rslave, rprivate)", o)
		}
	}
	m.ReadOnly = access == "ro"
	if prop != "" {
		m.Propagation = Propagation(prop)
	}
	return m, nil
}
