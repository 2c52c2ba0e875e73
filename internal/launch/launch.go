package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/runtime/restart"

	"github.com/ckubelet/ckubelet/internal/output"
)

// Runtimes are what `ckubelet run --runtime` accepts.
var Runtimes = []string{"docker", "podman", "nerdctl", "containerd", "systemd"}

// Options are the inputs of Run and Join.
type Options struct {
	Runtime string // one of Runtimes
	Engine  Engine // what a systemd unit wraps (docker, podman, nerdctl, containerd); default docker
	Image   string
	Name    string // kubelet's container name, default "kubelet"

	Mounts      []Mount  // --mount
	Env         []string // KEY=value
	KubeletArgs []string // appended to the image's kubelet command line
	NodeIP      string

	CRI          CRI
	CgroupDriver string // overrides the detected driver when not empty
	// ConfigPath is the kubelet configuration to create (or, with Force, merge the host's
	// settings into); empty writes none. Join always merges into kubeadm's.
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
	// Binary resolves a host command for units and scripts; default exec.LookPath, else /usr/bin.
	Binary func(string) string
}

func (o *Options) defaults() error {
	if !slices.Contains(Runtimes, o.Runtime) {
		return fmt.Errorf("unknown runtime %q: want one of %s", o.Runtime, strings.Join(Runtimes, ", "))
	}
	if o.Engine == "" {
		o.Engine = Docker
	}
	switch o.Engine {
	case Docker, Podman, Nerdctl, Containerd:
	default:
		return fmt.Errorf("unknown engine %q: want docker, podman, nerdctl or containerd", o.Engine)
	}
	if o.Runtime != "systemd" {
		o.Engine = Engine(o.Runtime)
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
	if o.Runtime == "systemd" && !o.Host.SystemdPID1 && !o.Print {
		return errors.New("--runtime systemd: this host does not run systemd (no /run/systemd/system); --print still shows the unit")
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
	return nil
}

// kubeletSpec is the kubelet container of o, with extra arguments before the user's.
func (o *Options) kubeletSpec(first ...string) Spec {
	args := append([]string{}, first...)
	if o.NodeIP != "" {
		args = append(args, "--node-ip="+o.NodeIP)
	}
	args = append(args, o.KubeletArgs...)
	s := KubeletSpec(KubeletOptions{Name: o.Name, Image: o.Image, CRI: o.CRI, Mounts: o.Mounts, Env: o.Env, Args: args, Exists: o.Exists})
	if o.Runtime == "systemd" {
		s = SystemdSpec(s)
	}
	return s
}

// Run starts (or, with Print, prints) the kubelet container.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	settings := SettingsFor(*o.Host, o.CRI, o.CgroupDriver)
	var extra []string
	var cfg ConfigPlan
	if o.ConfigPath != "" {
		var err error
		if cfg, err = PlanKubeletConfig(o.ConfigPath, settings, o.Force); err != nil {
			return err
		}
		if filepath.Clean(o.ConfigPath) != KubeletConfigPath {
			extra = append(extra, "--config="+o.ConfigPath) // the last --config wins
		}
	}
	spec := o.kubeletSpec(extra...)
	if o.ConfigPath != "" && !spec.visible(o.ConfigPath) {
		return fmt.Errorf("--write-config %s is not visible in the kubelet container: put it under %s or %s, or --mount its directory", o.ConfigPath, KubeletDir, KubernetesDir)
	}
	if o.Print {
		return o.print(ctx, spec, cfg, nil)
	}
	if err := CheckSharedMounts(spec); err != nil {
		return err
	}
	if err := createMountSources(spec); err != nil {
		return err
	}
	if o.ConfigPath != "" {
		fmt.Fprintf(o.Stderr, "ckubelet: %s; %s\n", o.Host, cfg.Describe())
		if err := cfg.Apply(); err != nil {
			return err
		}
	}
	return o.startKubelet(ctx, spec)
}

// startKubelet starts spec detached (or installs and starts its unit).
func (o *Options) startKubelet(ctx context.Context, spec Spec) error {
	switch o.Runtime {
	case "docker", "podman", "nerdctl":
		if o.Replace {
			rm := o.engineCommand(o.Engine, "rm", "--force", spec.Name)
			rm.Run() // nothing to remove is fine
		}
		argv, err := CLIArgs(o.Engine, spec, CLIOptions{Detach: true, Namespace: o.Containerd.Namespace})
		if err != nil {
			return err
		}
		return o.exec(ctx, argv)
	case "containerd":
		c, err := ConnectContainerd(ctx, o.Containerd)
		if err != nil {
			return err
		}
		defer c.Close()
		pid, err := c.Start(ctx, spec, o.Replace)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "started %s (pid %d) in containerd namespace %s; logs in %s; the restart monitor keeps it running\n",
			spec.Name, pid, o.Containerd.Namespace, o.Containerd.LogFile)
		return nil
	case "systemd":
		unit, err := o.unit(ctx, spec)
		if err != nil {
			return err
		}
		path := filepath.Join(o.UnitDir, spec.Name+".service")
		if err := output.ReplaceFile(path, func(f *os.File) error { _, err := io.WriteString(f, unit); return err }); err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "ckubelet: wrote %s\n", path)
		for _, args := range [][]string{{"daemon-reload"}, {"enable", spec.Name + ".service"}, {"restart", spec.Name + ".service"}} {
			if err := o.exec(ctx, append([]string{"systemctl"}, args...)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown runtime %q", o.Runtime)
}

// unit renders the systemd unit of spec, resolving the image's entrypoint for ctr.
func (o *Options) unit(ctx context.Context, spec Spec) (string, error) {
	if o.Engine == Containerd && spec.Entrypoint == nil {
		c, err := ConnectContainerd(ctx, o.Containerd)
		if err != nil {
			return "", err
		}
		defer c.Close()
		if spec.Entrypoint, err = c.ImageEntrypoint(ctx, spec.Image); err != nil {
			return "", err
		}
	}
	return SystemdUnit(spec, UnitOptions{
		Engine: o.Engine, Binary: o.Binary, Namespace: o.engineNamespace(), Address: o.engineAddress(),
		Snapshotter: o.Containerd.Snapshotter, CRIService: o.CRI.Service,
	})
}

// engineNamespace and engineAddress are the containerd flags of the nerdctl and ctr command lines;
// docker and podman have none.
func (o *Options) engineNamespace() string {
	if o.Engine == Nerdctl || o.Engine == Containerd {
		return o.Containerd.Namespace
	}
	return ""
}

func (o *Options) engineAddress() string {
	if o.Engine == Containerd && o.Containerd.Address != DefaultContainerdAddress {
		return o.Containerd.Address
	}
	return ""
}

func (o *Options) engineCommand(e Engine, args ...string) *exec.Cmd {
	var global []string
	if e == Nerdctl {
		global = []string{"--namespace", o.Containerd.Namespace}
	}
	return exec.Command(string(e), append(global, args...)...)
}

func (o *Options) exec(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv[:min(len(argv), 2)], " "), err)
	}
	return nil
}

// containerdPlan is what --print shows for the containerd runtime: the container the Go client
// creates, as JSON.
type containerdPlan struct {
	Namespace   string            `json:"namespace"`
	ID          string            `json:"id"`
	Image       string            `json:"image"`
	Snapshotter string            `json:"snapshotter,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	LogURI      string            `json:"logURI,omitempty"`
	// Args and Entrypoint are the spec's process: the image's entrypoint (Entrypoint nil) followed
	// by Args, or Entrypoint and Args.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Args       []string `json:"args"`
	Spec       any      `json:"ociSpec"`
}

func (o *Options) containerdPlan(s Spec, daemon bool) (containerdPlan, error) {
	sp, err := OCISpec(s, o.Containerd.Namespace)
	if err != nil {
		return containerdPlan{}, err
	}
	sp.Process.Args = nil // completed from the image config at creation
	p := containerdPlan{Namespace: o.Containerd.Namespace, ID: s.Name, Image: s.Image, Snapshotter: o.Containerd.Snapshotter,
		Labels: map[string]string{LauncherLabel: "ckubelet"}, Entrypoint: s.Entrypoint, Args: s.Args, Spec: sp}
	if p.Args == nil {
		p.Args = []string{}
	}
	if daemon {
		u := &url.URL{Scheme: "file", Path: o.Containerd.LogFile}
		p.LogURI = u.String()
		p.Labels[restart.StatusLabel] = "running"
		p.Labels[restart.PolicyLabel] = "always"
		p.Labels[restart.LogURILabel] = p.LogURI
	}
	return p, nil
}

// print writes what Run (join nil) or Join would do. Shell runtimes get a POSIX sh script, the
// containerd runtime JSON (it has no command line), systemd the unit.
func (o *Options) print(ctx context.Context, kubelet Spec, cfg ConfigPlan, join *Spec) error {
	if o.Runtime == "containerd" {
		fmt.Fprintf(o.Stderr, "ckubelet: %s\n", o.Host)
		fmt.Fprintln(o.Stderr, "ckubelet: containerd has no command line to show: ckubelet creates these containers with the containerd Go client.")
		fmt.Fprintln(o.Stderr, "ckubelet: the JSON below is what it creates; process args and environment are completed from the image config.")
		if cfg.Path != "" {
			fmt.Fprintf(o.Stderr, "ckubelet: %s\n", cfg.Describe())
		}
		kp, err := o.containerdPlan(kubelet, true)
		if err != nil {
			return err
		}
		var doc any = kp
		if join != nil {
			jp, err := o.containerdPlan(*join, false)
			if err != nil {
				return err
			}
			doc = map[string]any{"kubeadm": jp, "kubelet": kp,
				"afterKubeadm": "merge the host's settings into " + KubeletConfigPath + ", append KUBELET_KUBEADM_ARGS of " + KubeadmFlagsPath + " to the kubelet args"}
		}
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	if o.Runtime == "systemd" && join == nil {
		unit, err := o.unit(ctx, kubelet)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "ckubelet: %s\n", o.Host)
		if cfg.Path != "" {
			fmt.Fprintf(o.Stderr, "ckubelet: %s\n", cfg.Describe())
		}
		fmt.Fprintf(o.Stderr, "ckubelet: would write %s, then systemctl daemon-reload, enable and restart %s.service\n",
			filepath.Join(o.UnitDir, kubelet.Name+".service"), kubelet.Name)
		_, err = io.WriteString(o.Stdout, unit)
		return err
	}

	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# %s\n", o.Host)
	b.WriteString("set -e\n")
	dirs := mountSourceDirs(kubelet)
	if join != nil {
		for _, d := range mountSourceDirs(*join) {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	b.WriteString(ShellCommand([][]string{append([]string{"mkdir", "-p"}, dirs...)}) + "\n")
	if err := checkSharedForPrint(kubelet); err != nil {
		fmt.Fprintf(&b, "# WARNING: %v\n", err)
	}
	if join != nil {
		groups, err := o.oneShotCommand(*join)
		if err != nil {
			return err
		}
		b.WriteString(ShellCommand(groups) + "\n")
		s := SettingsFor(*o.Host, o.CRI, o.CgroupDriver)
		fmt.Fprintf(&b, "# ckubelet then sets in %s: cgroupDriver: %s", KubeletConfigPath, s.CgroupDriver)
		if s.CgroupV1 {
			b.WriteString(", failCgroupV1: false")
		}
		b.WriteString("\n")
	} else if cfg.Action == ConfigCreate || cfg.Action == ConfigMerge {
		fmt.Fprintf(&b, "cat > %s <<'EOF'\n%sEOF\n", ShellQuote(cfg.Path), cfg.Content)
	} else if cfg.Path != "" {
		fmt.Fprintf(&b, "# %s\n", cfg.Describe())
	}
	switch o.Runtime {
	case "systemd":
		unit, err := o.unit(ctx, kubelet)
		if err != nil {
			return err
		}
		path := filepath.Join(o.UnitDir, kubelet.Name+".service")
		fmt.Fprintf(&b, "cat > %s <<'EOF'\n%sEOF\n", ShellQuote(path), unit)
		fmt.Fprintf(&b, "systemctl daemon-reload\nsystemctl enable %[1]s.service\nsystemctl restart %[1]s.service\n", ShellQuote(kubelet.Name))
	default:
		if join != nil {
			fmt.Fprintf(&b, ". %s\n", KubeadmFlagsPath)
		}
		if o.Replace {
			rm := []string{string(o.Engine)}
			if o.Engine == Nerdctl {
				rm = append(rm, "--namespace", o.Containerd.Namespace)
			}
			b.WriteString(ShellCommand([][]string{append(rm, "rm", "--force", kubelet.Name)}) + " || true\n")
		}
		groups, err := cliArgs(o.Engine, kubelet, CLIOptions{Detach: true, Namespace: o.Containerd.Namespace})
		if err != nil {
			return err
		}
		b.WriteString(ShellCommand(groups) + "\n")
	}
	if join != nil && o.BootstrapWait > 0 {
		fmt.Fprintf(&b, "# ckubelet then waits up to %v for %s (kubelet's TLS bootstrap) and removes %s\n", o.BootstrapWait, KubeletKubeconfig, BootstrapKubeconfig)
	}
	_, err := o.Stdout.Write(b.Bytes())
	return err
}

// checkSharedForPrint is CheckSharedMounts when /proc is readable (it is on Linux).
func checkSharedForPrint(s Spec) error {
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		return nil
	}
	return CheckSharedMounts(s)
}

// oneShotCommand is the command line that runs a one-shot container (kubeadm) in the foreground:
// the engine's CLI, or ctr under systemd with containerd.
func (o *Options) oneShotCommand(s Spec) ([][]string, error) {
	if o.Engine == Containerd {
		return ctrArgs(s, UnitOptions{Namespace: o.Containerd.Namespace, Address: o.engineAddress(), Snapshotter: o.Containerd.Snapshotter})
	}
	return cliArgs(o.Engine, s, CLIOptions{Namespace: o.Containerd.Namespace})
}

// Join runs kubeadm join from the image in a one-shot container, merges the host's settings into
// the kubelet configuration kubeadm wrote, starts kubelet with kubeadm's flags, and waits for its
// TLS bootstrap (see kubeadm.go for the phases).
func Join(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.KubeadmImage == "" {
		o.KubeadmImage = o.Image
	}
	if err := CheckJoinImage(o.KubeadmImage, o.KubeadmArgs); err != nil {
		return err
	}
	join, err := JoinSpec(JoinOptions{Image: o.KubeadmImage, CRI: o.CRI, Host: *o.Host, Args: o.KubeadmArgs, Exists: o.Exists})
	if err != nil {
		return err
	}
	if o.Print {
		var kubelet Spec
		if o.Runtime == "systemd" {
			kubelet = o.kubeletSpec() // the unit reads kubeadm's flags itself
		} else {
			kubelet = o.kubeletSpec(KubeadmArgsPlaceholder)
		}
		return o.print(ctx, kubelet, ConfigPlan{}, &join)
	}

	probe := o.kubeletSpec()
	if err := CheckSharedMounts(probe); err != nil {
		return err
	}
	if err := createMountSources(join); err != nil {
		return err
	}
	fmt.Fprintf(o.Stderr, "ckubelet: %s; running kubeadm join in %s\n", o.Host, o.KubeadmImage)
	if err := o.runOnce(ctx, join); err != nil {
		return fmt.Errorf("kubeadm join: %w", err)
	}

	// kubeadm wrote the cluster's kubelet configuration; make it agree with this host. Its
	// containerRuntimeEndpoint came from --cri-socket (ours, unless the user chose).
	settings := SettingsFor(*o.Host, o.CRI, o.CgroupDriver)
	if hasFlag(o.KubeadmArgs, "cri-socket") || hasFlag(o.KubeadmArgs, "config") {
		settings.ContainerRuntimeEndpoint = ""
	}
	cfg, err := PlanKubeletConfig(KubeletConfigPath, settings, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stderr, "ckubelet: %s\n", cfg.Describe())
	if err := cfg.Apply(); err != nil {
		return err
	}

	var kubelet Spec
	if o.Runtime == "systemd" {
		kubelet = o.kubeletSpec()
	} else {
		flags, err := ReadKubeadmFlags(KubeadmFlagsPath)
		if err != nil {
			return err
		}
		kubelet = o.kubeletSpec(flags...)
	}
	if err := createMountSources(kubelet); err != nil {
		return err
	}
	if err := o.startKubelet(ctx, kubelet); err != nil {
		return err
	}
	if o.BootstrapWait > 0 {
		fmt.Fprintf(o.Stderr, "ckubelet: waiting up to %v for kubelet's TLS bootstrap\n", o.BootstrapWait)
		if err := WaitForBootstrap(ctx, o.BootstrapWait); err != nil {
			return err
		}
		fmt.Fprintf(o.Stderr, "ckubelet: kubelet wrote %s; removed %s\n", KubeletKubeconfig, BootstrapKubeconfig)
	}
	return nil
}

// runOnce runs a one-shot container in the foreground and removes it.
func (o *Options) runOnce(ctx context.Context, s Spec) error {
	if o.Runtime == "containerd" {
		c, err := ConnectContainerd(ctx, o.Containerd)
		if err != nil {
			return err
		}
		defer c.Close()
		if o.Replace {
			if err := c.Remove(ctx, s.Name); err != nil {
				return err
			}
		}
		return c.RunOnce(ctx, s, o.Stdout, o.Stderr)
	}
	groups, err := o.oneShotCommand(s)
	if err != nil {
		return err
	}
	var argv []string
	for _, g := range groups {
		argv = append(argv, g...)
	}
	return o.exec(ctx, argv)
}
