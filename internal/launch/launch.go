package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// Runtimes are what `ckubelet run --runtime` accepts.
var Runtimes = []string{"docker", "podman", "nerdctl", "containerd", "systemd"}

// Options are the inputs of Run and Join.
type Options struct {
	Runtime string // one of Runtimes
	Engine  Engine // what a systemd unit wraps (docker, podman, nerdctl, containerd); default docker
	Image   string
	Name    string // kubelet's container name, default "kubelet"
	// Load is a docker-archive whose images are loaded into the runtime first (a node bundle's).
	Load string

	Mounts      []Mount  // --mount
	Env         []string // KEY=value
	KubeletArgs []string // appended to the image's kubelet command line
	NodeIP      string

	CRI          CRI
	CgroupDriver string // overrides the detected driver when not empty
	// Cluster holds what a kubelet configuration written without kubeadm needs to know about the
	// cluster (run only; kubeadm writes its own).
	Cluster ClusterSettings
	// ConfigPath is the kubelet configuration to create (or, with Force, merge the host's
	// settings into); empty writes none. Join passes the settings to kubeadm instead.
	ConfigPath string
	Force      bool
	Replace    bool // remove a container of the same name first

	Containerd ContainerdOptions
	UnitDir    string // where a systemd unit goes, default /etc/systemd/system

	Print          bool          // print what would run instead of running it
	BootstrapWait  time.Duration // join: how long to wait for kubelet's TLS bootstrap; 0 skips
	KubeadmArgs    []string      // join: the user's kubeadm join arguments
	KubeadmImage   string        // join: the kubeadm flavor; default Image
	Stdout, Stderr io.Writer

	// Host replaces detection (tests).
	Host *Host
	// Exists replaces os.Stat for the optional mounts (tests).
	Exists func(string) bool
	// Binary resolves a host command for units; default exec.LookPath, else /usr/bin.
	Binary func(string) string
	// Command replaces running a command (tests).
	Command func(ctx context.Context, argv []string, stdout, stderr io.Writer) error
}

func (o *Options) defaults() error {
	if o.Engine == "" {
		o.Engine = Docker
	}
	if o.Image == "" {
		return errors.New("no image: pass --image")
	}
	if o.Name == "" {
		o.Name = "kubelet"
	}
	if o.CRI.Endpoint == "" {
		o.CRI = CRIs["containerd"]
	}
	switch o.CgroupDriver {
	case "", CgroupDriverSystemd, CgroupDriverCgroupfs:
	default:
		return fmt.Errorf("unknown cgroup driver %q: want systemd or cgroupfs", o.CgroupDriver)
	}
	if o.Containerd.Address == "" {
		o.Containerd.Address = DefaultContainerdAddress
	}
	if o.Containerd.Namespace == "" {
		o.Containerd.Namespace = DefaultNamespace
	}
	if o.Containerd.LogFile == "" {
		o.Containerd.LogFile = filepath.Join("/var/log/ckubelet", o.Name+".log")
	}
	if o.UnitDir == "" {
		o.UnitDir = "/etc/systemd/system"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Host == nil {
		h := DetectThisHost()
		o.Host = &h
	}
	if o.Binary == nil {
		o.Binary = func(name string) string {
			if p, err := exec.LookPath(name); err == nil {
				if abs, err := filepath.Abs(p); err == nil {
					return abs
				}
			}
			return "/usr/bin/" + name
		}
	}
	if o.Command == nil {
		o.Command = o.runCommand
	}
	return nil
}

// warnings are what the options ask for that probably does not do what the user wants.
func (o *Options) warnings() []string {
	var w []string
	for _, m := range o.Mounts {
		if m.Source != m.Destination {
			w = append(w, fmt.Sprintf("--mount %s:%s: source and destination differ; hostPath and local volumes only work when they are equal, because the container runtime resolves kubelet's paths on the host", m.Source, m.Destination))
		}
	}
	return w
}

// kubeletSpec is the kubelet container of o, with extra arguments before the user's.
func (o *Options) kubeletSpec(first ...string) Spec {
	args := slices.Clone(first)
	if o.NodeIP != "" {
		args = append(args, "--node-ip="+o.NodeIP)
	}
	args = append(args, o.KubeletArgs...)
	return KubeletSpec(KubeletOptions{Name: o.Name, Image: o.Image, CRI: o.CRI, Mounts: o.Mounts, Env: o.Env, Args: args, Exists: o.Exists})
}

// PlanRun is what Run does: check the kubelet directory's propagation, create the mount sources,
// write the kubelet configuration, and start the kubelet container with the runtime.
func PlanRun(o *Options) (*Plan, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rt, err := newRuntime(o)
	if err != nil {
		return nil, err
	}
	var extra []string
	if o.ConfigPath != "" && filepath.Clean(o.ConfigPath) != KubeletConfigPath {
		extra = append(extra, "--config="+o.ConfigPath) // the last --config wins
	}
	spec := o.kubeletSpec(extra...)
	if o.ConfigPath != "" && !spec.visible(o.ConfigPath) {
		return nil, fmt.Errorf("--write-config %s is not visible in the kubelet container: put it under %s or %s, or --mount its directory", o.ConfigPath, KubeletDir, KubernetesDir)
	}
	p := &Plan{Header: o.Host.String(), Warnings: o.warnings()}
	p.Steps = append(p.Steps, sharedCheck{spec})
	if o.Load != "" {
		p.Steps = append(p.Steps, loadSteps(o, rt)...)
	}
	p.Steps = append(p.Steps, rt.PullCheck(o.Image), mkdirs(mountSourceDirs(spec)))
	if o.ConfigPath != "" {
		cfg, err := PlanKubeletConfig(o.ConfigPath, SettingsFor(*o.Host, o.CRI, o.CgroupDriver), o.Cluster, o.Force)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, cfg.step())
	}
	p.Steps = append(p.Steps, rt.Start(spec, o.Replace)...)
	return p, nil
}

// PlanJoin is what Join does: write the host's kubelet settings as a kubeadm patch, run kubeadm
// join from the image in a one-shot container, start kubelet with the flags kubeadm wrote, and
// wait for its TLS bootstrap (see kubeadm.go for the phases).
func PlanJoin(o *Options) (*Plan, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	rt, err := newRuntime(o)
	if err != nil {
		return nil, err
	}
	if o.KubeadmImage == "" {
		o.KubeadmImage = o.Image
	}
	if err := CheckJoinImage(o.KubeadmImage, o.KubeadmArgs); err != nil {
		return nil, err
	}
	join, err := JoinSpec(JoinOptions{Image: o.KubeadmImage, CRI: o.CRI, Host: *o.Host, Args: o.KubeadmArgs, Exists: o.Exists})
	if err != nil {
		return nil, err
	}
	kubelet := o.kubeletSpec(KubeadmArgsPlaceholder)
	patch, err := KubeletPatch(SettingsFor(*o.Host, o.CRI, o.CgroupDriver))
	if err != nil {
		return nil, err
	}
	p := &Plan{Header: o.Host.String(), Warnings: o.warnings()}
	if hasFlag(o.KubeadmArgs, "config") {
		p.Warnings = append(p.Warnings, fmt.Sprintf("kubeadm cannot mix --config with --patches: set patches.directory: %s in your JoinConfiguration, or the settings in %s yourself", KubeadmPatchesDir, KubeadmPatchPath))
	}
	dirs := mountSourceDirs(kubelet)
	for _, d := range mountSourceDirs(join) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	p.Steps = append(p.Steps, sharedCheck{kubelet})
	if o.Load != "" {
		p.Steps = append(p.Steps, loadSteps(o, rt)...)
	}
	p.Steps = append(p.Steps,
		rt.PullCheck(o.KubeadmImage),
		mkdirs(dirs),
		writeFile{path: KubeadmPatchPath, content: fileContent(patch), note: "this host's kubelet settings, which kubeadm join merges into " + KubeletConfigPath},
	)
	p.Steps = append(p.Steps, rt.RunOnce(join, o.Replace)...)
	p.Steps = append(p.Steps, sourceKubeadmFlags{})
	p.Steps = append(p.Steps, rt.Start(kubelet, o.Replace)...)
	if o.BootstrapWait > 0 {
		p.Steps = append(p.Steps, waitBootstrap{o.BootstrapWait})
	}
	return p, nil
}

// Run starts (or, with Print, prints) the kubelet container.
func Run(ctx context.Context, o Options) error {
	p, err := PlanRun(&o)
	if err != nil {
		return err
	}
	return o.carryOut(ctx, p)
}

// Join joins the node with kubeadm and starts kubelet (or, with Print, prints how).
func Join(ctx context.Context, o Options) error {
	p, err := PlanJoin(&o)
	if err != nil {
		return err
	}
	return o.carryOut(ctx, p)
}

// carryOut executes the plan, or prints it as a script.
func (o *Options) carryOut(ctx context.Context, p *Plan) error {
	x := &executor{stdout: o.Stdout, stderr: o.Stderr, containerdOpts: o.Containerd, run: o.Command}
	if !o.Print {
		fmt.Fprintf(o.Stderr, "ckubelet: %s\n", p.Header)
		return p.Execute(ctx, x)
	}
	script, err := p.Script(ctx, x)
	if err != nil {
		return err
	}
	_, err = io.WriteString(o.Stdout, script)
	return err
}

// sourceKubeadmFlags reads kubeadm-flags.env in a script, for the $KUBELET_KUBEADM_ARGS of the
// kubelet command that follows; an executed plan reads the file when that command runs.
type sourceKubeadmFlags struct{}

func (sourceKubeadmFlags) Do(context.Context, *executor) error { return nil }

func (sourceKubeadmFlags) Script(context.Context, *executor) (string, error) {
	return fmt.Sprintf(". %s", KubeadmFlagsPath), nil
}
