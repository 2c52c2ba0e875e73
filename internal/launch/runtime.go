package launch

import (
	"context"
	"fmt"
)

// A Runtime runs containers on this host; it is what `--runtime` names. It turns a Spec into the
// plan steps that start it, so that every runtime is executed and printed the same way.
type Runtime interface {
	// Start returns the steps that start s detached and keep it running across crashes and
	// reboots; replace removes a container of the same name first.
	Start(s Spec, replace bool) []Step
	// RunOnce returns the steps that run s in the foreground until it exits, then remove it
	// (kubeadm join). A non-zero exit fails the step.
	RunOnce(s Spec, replace bool) []Step
	// PullCheck is the step refusing, before anything starts, an image the engine would have
	// to pull and could not read (zstd.go).
	PullCheck(image string) Step
	// Load returns the steps that load the images of a docker-archive into the runtime's image
	// store (a node bundle's images).
	Load(archive string) []Step
	// imageStore names where the runtime keeps images, so that a bundle is loaded once into
	// each store that needs it.
	imageStore() string
	// String names the runtime in messages.
	String() string
}

// unitEngine is a runtime a systemd unit can wrap: one that runs a container in the foreground
// from a command line.
type unitEngine interface {
	Runtime
	// unitCommands returns the unit's ExecStartPre commands (cleanup of a leftover container),
	// its ExecStart command line (grouped for display) and its ExecStop, if any. s is a
	// foreground spec (see SystemdSpec).
	unitCommands(ctx context.Context, x *executor, s Spec) (pre [][]string, run [][]string, stop []string, err error)
	// service is the systemd unit the engine needs running, if any.
	service() string
}

// newRuntime picks the runtime of o once; nothing else in the package looks at its name.
func newRuntime(o *Options) (Runtime, error) {
	engine := func(name Engine) (unitEngine, error) {
		switch name {
		case Docker:
			return &cliEngine{name: "docker", daemon: "docker.service", store: "docker", zstd: dockerZstd}, nil
		case Podman:
			return &cliEngine{name: "podman", store: podmanStore, zstd: podmanZstd}, nil
		case Nerdctl:
			return &cliEngine{name: "nerdctl", global: []string{"--namespace", o.Containerd.Namespace}, daemon: "containerd.service",
				store: containerdStore(DefaultContainerdAddress, o.Containerd.Namespace)}, nil
		case Containerd:
			return &containerdRuntime{opts: o.Containerd}, nil
		}
		return nil, fmt.Errorf("unknown engine %q: want docker, podman, nerdctl or containerd", name)
	}
	if o.Runtime != "systemd" {
		if !knownRuntime(o.Runtime) {
			return nil, fmt.Errorf("unknown runtime %q: want one of docker, podman, nerdctl, containerd, systemd", o.Runtime)
		}
		return engine(Engine(o.Runtime))
	}
	e, err := engine(o.Engine)
	if err != nil {
		return nil, err
	}
	return &systemdRuntime{engine: e, unitDir: o.UnitDir, binary: o.Binary, criService: o.CRI.Service}, nil
}

func knownRuntime(name string) bool {
	for _, r := range Runtimes {
		if r == name {
			return true
		}
	}
	return false
}

// criImages is the runtime whose image store the CRI runtime runs pods from: the images a bundle
// brings for pods (pause, kube-proxy) must be there, whatever runs kubelet itself.
func criImages(o *Options) Runtime {
	if o.CRI.Name == "crio" {
		return &cliEngine{name: "podman", store: podmanStore, zstd: podmanZstd} // CRI-O and podman share containers-storage
	}
	opts := o.Containerd
	opts.Namespace = DefaultNamespace // the CRI plugin's
	return &containerdRuntime{opts: opts}
}

// loadSteps load a bundle's images where kubelet's runtime and the CRI runtime find them.
func loadSteps(o *Options, rt Runtime) []Step {
	steps := rt.Load(o.Load)
	if cri := criImages(o); cri.imageStore() != rt.imageStore() {
		steps = append(steps, cri.Load(o.Load)...)
	}
	return steps
}

// Image stores, for imageStore.
const podmanStore = "containers-storage"

func containerdStore(address, namespace string) string {
	return "containerd " + address + " " + namespace
}
