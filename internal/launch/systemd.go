package launch

import (
	"fmt"
	"regexp"
	"strings"
)

// UnitOptions adjust the systemd unit.
type UnitOptions struct {
	Engine Engine // docker, podman, nerdctl, or containerd (through ctr)
	// Binary returns the absolute path of a host command: ExecStart needs one on systemd < 239.
	Binary func(name string) string
	// Namespace and Address are containerd's, for nerdctl and ctr.
	Namespace, Address string
	Snapshotter        string // ctr only; empty for containerd's default
	Cgroup             string // ctr only; empty for containerd's default, /<namespace>/<name>
	// CRIService is the unit of the runtime kubelet talks to, ordered before kubelet.
	CRIService string
}

// engineService is the unit an engine needs running: docker's daemon, or containerd for the
// containerd clients; podman has no daemon.
func engineService(e Engine) string {
	switch e {
	case Docker:
		return "docker.service"
	case Nerdctl, Containerd:
		return "containerd.service"
	}
	return ""
}

// SystemdUnit renders a unit that runs s in the foreground with the chosen engine and lets
// systemd restart it: the unit removes a leftover container first, runs it with --rm, and reads
// kubeadm's flags file, so a unit written before `kubeadm join` picks up its flags on restart.
// s must be a foreground spec (Remove, no restart policy; see SystemdSpec).
func SystemdUnit(s Spec, o UnitOptions) (string, error) {
	bin := o.Binary
	if bin == nil {
		bin = func(name string) string { return "/usr/bin/" + name }
	}
	var run [][]string
	var pre [][]string
	var stop []string
	switch o.Engine {
	case Docker, Podman, Nerdctl:
		groups, err := cliArgs(o.Engine, s, CLIOptions{Namespace: o.Namespace})
		if err != nil {
			return "", err
		}
		groups[0][0] = bin(string(o.Engine))
		run = groups
		global := groups[0][:len(groups[0])-1] // the engine and its global flags, without "run"
		pre = append(pre, append(append([]string{"-" + global[0]}, global[1:]...), "rm", "--force", s.Name))
		stop = append(append([]string{}, global...), "stop", s.Name)
	case Containerd:
		groups, err := ctrArgs(s, o)
		if err != nil {
			return "", err
		}
		groups[0][0] = bin("ctr")
		run = groups
		global := groups[0][:len(groups[0])-1]
		// The task of a crashed ctr outlives it; delete it and the container before starting.
		pre = append(pre,
			append(append([]string{"-" + global[0]}, global[1:]...), "tasks", "delete", "--force", s.Name),
			append(append([]string{"-" + global[0]}, global[1:]...), "containers", "delete", s.Name))
		// No ExecStop: ctr forwards systemd's SIGTERM to the task and removes the container.
	default:
		return "", fmt.Errorf("systemd: unknown engine %q (want docker, podman, nerdctl or containerd)", o.Engine)
	}
	mkdir := append([]string{bin("mkdir"), "-p"}, mountSourceDirs(s)...)

	var b strings.Builder
	after := []string{"network-online.target"}
	for _, svc := range []string{engineService(o.Engine), o.CRIService} {
		if svc != "" && !strings.Contains(strings.Join(after, " "), svc) {
			after = append(after, svc)
		}
	}
	fmt.Fprintf(&b, "# kubelet in a %s container, written by ckubelet.\n", o.Engine)
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=kubelet (%s in %s)\n", s.Image, o.Engine)
	b.WriteString("Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/\n")
	b.WriteString("Wants=network-online.target\n")
	fmt.Fprintf(&b, "After=%s\n", strings.Join(after, " "))
	if svc := engineService(o.Engine); svc != "" {
		fmt.Fprintf(&b, "Requires=%s\n", svc)
	}
	b.WriteString("\n[Service]\n")
	b.WriteString("# Written by kubeadm join; the leading - lets the unit start without it.\n")
	fmt.Fprintf(&b, "EnvironmentFile=-%s\n", KubeadmFlagsPath)
	fmt.Fprintf(&b, "ExecStartPre=%s\n", systemdCommand([][]string{mkdir}))
	for _, p := range pre {
		fmt.Fprintf(&b, "ExecStartPre=%s\n", systemdCommand([][]string{p}))
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", systemdCommand(run))
	if stop != nil {
		fmt.Fprintf(&b, "ExecStop=%s\n", systemdCommand([][]string{stop}))
	}
	b.WriteString("Restart=always\nRestartSec=10\n")
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return b.String(), nil
}

// SystemdSpec adapts a kubelet spec for a unit: in the foreground, removed on exit, restarted by
// systemd rather than the engine, with kubeadm's flags before the user's arguments (kubelet
// takes the last value of a repeated flag).
func SystemdSpec(s Spec) Spec {
	s.Remove = true
	s.Restart = RestartNo
	s.Args = append([]string{KubeadmArgsPlaceholder}, s.Args...)
	return s
}

// ctrArgs is `ctr run` for s, in the foreground with --rm (for systemd). ctr replaces the image's
// whole command when given arguments, so s.Entrypoint must hold the image's entrypoint.
func ctrArgs(s Spec, o UnitOptions) ([][]string, error) {
	if s.Entrypoint == nil {
		return nil, fmt.Errorf("ctr needs the image's entrypoint spelled out")
	}
	cmd := []string{"ctr"}
	if o.Address != "" {
		cmd = append(cmd, "--address", o.Address)
	}
	if o.Namespace != "" {
		cmd = append(cmd, "--namespace", o.Namespace)
	}
	groups := [][]string{append(cmd, "run")}
	add := func(words ...string) { groups = append(groups, words) }
	add("--rm")
	if o.Snapshotter != "" {
		add("--snapshotter", o.Snapshotter)
	}
	if o.Cgroup != "" {
		add("--cgroup", o.Cgroup)
	}
	if s.Privileged {
		add("--privileged")
	}
	if s.HostNetwork {
		add("--net-host")
	}
	// ctr has no --pid=host. --with-ns joins the namespace at a path, which runc opens before it
	// creates any: /proc/self is then runc itself, in containerd's namespaces, which is what
	// "host" means for the Go client too (it inherits them). /proc/1 would need ptrace rights on
	// PID 1, which some sandboxes deny. Without a cgroup namespace (containerd adds none) the
	// cgroup one is the host's already.
	for _, ns := range []struct {
		host bool
		name string
	}{{s.HostPID, "pid"}, {s.HostIPC, "ipc"}, {s.HostUTS, "uts"}} {
		if ns.host {
			add("--with-ns", ns.name+":/proc/self/ns/"+ns.name)
		}
	}
	if s.RootfsPropagation != PropagationDefault {
		// ctr 1.6 has the flag; the original project needed a patched ctr for it.
		add("--rootfs-propagation", string(s.RootfsPropagation))
	}
	for _, env := range s.Env {
		add("--env", env)
	}
	for _, m := range s.Mounts {
		add("--mount", "type=bind,src="+m.Source+",dst="+m.Destination+",options="+strings.Join(bindOptions(m), ":"))
	}
	groups = append(groups, append(append([]string{s.Image, s.Name}, s.Entrypoint...), s.Args...))
	return groups, nil
}

// systemdCommand renders a command line for Exec*=, one group per continued line.
func systemdCommand(groups [][]string) string {
	lines := make([]string, len(groups))
	for i, g := range groups {
		words := make([]string, len(g))
		for j, w := range g {
			words[j] = systemdQuote(w)
		}
		lines[i] = strings.Join(words, " ")
	}
	return strings.Join(lines, " \\\n    ")
}

var systemdSafe = regexp.MustCompile(`^[A-Za-z0-9_@+=:,./-]+$`)

// systemdQuote quotes a word for a unit's command line (systemd.service(5), "Command lines"):
// specifiers (%) and variables ($) are escaped by doubling; anything else unusual goes in double
// quotes with C-style escapes. KubeadmArgsPlaceholder stays, unquoted, to be split.
func systemdQuote(w string) string {
	if w == KubeadmArgsPlaceholder || systemdSafe.MatchString(w) {
		return w
	}
	w = strings.NewReplacer(`%`, `%%`, `$`, `$$`).Replace(w)
	if systemdSafe.MatchString(strings.NewReplacer(`%`, ``, `$`, ``).Replace(w)) && w != "" {
		return w
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(w) + `"`
}
