package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// systemdRuntime installs a unit that runs the kubelet container in the foreground with an
// engine and lets systemd restart it.
type systemdRuntime struct {
	engine  unitEngine
	unitDir string
	// binary returns the absolute path of a host command: ExecStart needs one on systemd < 239.
	binary func(name string) string
	// criService is the unit of the runtime kubelet talks to, ordered before kubelet.
	criService string
}

func (r *systemdRuntime) String() string { return "systemd (" + r.engine.String() + ")" }

func (r *systemdRuntime) unitPath(name string) string { return r.unitDir + "/" + name + ".service" }

// Start writes the unit, enables it and (re)starts it.
func (r *systemdRuntime) Start(s Spec, _ bool) []Step {
	s = SystemdSpec(s)
	unit := s.Name + ".service"
	return []Step{
		systemdCheck{},
		writeFile{path: r.unitPath(s.Name), content: func(ctx context.Context, x *executor) ([]byte, error) {
			u, err := r.unit(ctx, x, s)
			return []byte(u), err
		}},
		command{argv: [][]string{{"systemctl", "daemon-reload"}}},
		command{argv: [][]string{{"systemctl", "enable", unit}}},
		command{argv: [][]string{{"systemctl", "restart", unit}}},
	}
}

func (r *systemdRuntime) PullCheck(image string) Step { return r.engine.PullCheck(image) }

// Load loads the images with the wrapped engine.
func (r *systemdRuntime) Load(archive string) []Step { return r.engine.Load(archive) }

func (r *systemdRuntime) imageStore() string { return r.engine.imageStore() }

// RunOnce runs a one-shot container (kubeadm) with the wrapped engine: systemd has nothing to add.
func (r *systemdRuntime) RunOnce(s Spec, replace bool) []Step { return r.engine.RunOnce(s, replace) }

// systemdCheck refuses to install a unit on a host that does not run systemd.
type systemdCheck struct{}

func (systemdCheck) Do(context.Context, *executor) error {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return errors.New("--runtime systemd: this host does not run systemd (no /run/systemd/system); --print still shows the unit")
	}
	return nil
}

func (systemdCheck) Script(context.Context, *executor) (string, error) {
	return `[ -d /run/systemd/system ] || { echo "this host does not run systemd" >&2; exit 1; }`, nil
}

// unit renders a unit that runs s in the foreground with the engine and lets systemd restart it:
// the unit removes a leftover container first, runs it with --rm, and reads kubeadm's flags file,
// so a unit written before `kubeadm join` picks up its flags on restart. s must be a foreground
// spec (Remove, no restart policy; see SystemdSpec).
func (r *systemdRuntime) unit(ctx context.Context, x *executor, s Spec) (string, error) {
	bin := r.binary
	if bin == nil {
		bin = func(name string) string { return "/usr/bin/" + name }
	}
	pre, run, stop, err := r.engine.unitCommands(ctx, x, s)
	if err != nil {
		return "", err
	}
	run[0][0] = bin(run[0][0])
	for i := range pre {
		// The leading - lets the unit start when there is nothing to remove.
		pre[i] = append([]string{"-" + bin(pre[i][0])}, pre[i][1:]...)
	}
	if stop != nil {
		stop = append([]string{bin(stop[0])}, stop[1:]...)
	}
	mkdir := append([]string{bin("mkdir"), "-p"}, mountSourceDirs(s)...)

	var b strings.Builder
	after := []string{"network-online.target"}
	for _, svc := range []string{r.engine.service(), r.criService} {
		if svc != "" && !slices.Contains(after, svc) {
			after = append(after, svc)
		}
	}
	fmt.Fprintf(&b, "# kubelet in a %s container, written by ckubelet.\n", r.engine)
	b.WriteString("[Unit]\n")
	fmt.Fprintf(&b, "Description=kubelet (%s in %s)\n", s.Image, r.engine)
	b.WriteString("Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/\n")
	b.WriteString("Wants=network-online.target\n")
	fmt.Fprintf(&b, "After=%s\n", strings.Join(after, " "))
	if svc := r.engine.service(); svc != "" {
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
	if !slices.Contains(s.Args, KubeadmArgsPlaceholder) {
		s.Args = append([]string{KubeadmArgsPlaceholder}, s.Args...)
	}
	return s
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

// Unit renders the systemd unit `ckubelet run --runtime systemd` installs for o, without looking
// at a host: only the mounts every node needs, commands in /usr/bin, and entrypoint, the image's
// entrypoint, which ctr needs spelled out. It is what a node bundle carries for those who
// install by hand.
func Unit(o Options, entrypoint []string) (string, error) {
	o.Runtime = "systemd"
	o.Host = &Host{CgroupV2: true, SystemdPID1: true}
	o.Exists = func(string) bool { return false }
	o.Binary = func(name string) string { return "/usr/bin/" + name }
	if err := o.defaults(); err != nil {
		return "", err
	}
	rt, err := newRuntime(&o)
	if err != nil {
		return "", err
	}
	s := o.kubeletSpec()
	s.Entrypoint = entrypoint
	// No containerd address: the unit must not depend on the building host's containerd, so ctr
	// gets the image's normalized name, as the node's import stores it.
	x := &executor{stdout: io.Discard, stderr: io.Discard, run: o.Command}
	return rt.(*systemdRuntime).unit(context.Background(), x, SystemdSpec(s))
}
