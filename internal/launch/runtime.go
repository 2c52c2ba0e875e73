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
	// store, where kubelet's runtime finds them (a node bundle's images).
	Load(archive string) []Step
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
			return &cliEngine{name: "docker", daemon: "docker.service"}, nil
		case Podman:
			return &cliEngine{name: "podman"}, nil
		case Nerdctl:
			return &cliEngine{name: "nerdctl", global: []string{"--namespace", o.Containerd.Namespace}, daemon: "containerd.service"}, nil
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
