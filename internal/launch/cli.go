package launch

import (
	"fmt"
	"regexp"
	"strings"
)

// Engine is what runs the container.
type Engine string

const (
	Docker     Engine = "docker"
	Podman     Engine = "podman"
	Nerdctl    Engine = "nerdctl"
	Containerd Engine = "containerd" // the containerd Go client; under systemd, ctr
)

// KubeadmArgsPlaceholder stands, in a rendered command, for the words of KUBELET_KUBEADM_ARGS, which
// kubeadm join writes to /var/lib/kubelet/kubeadm-flags.env: the shell and systemd both split an
// unquoted $VAR at whitespace, as kubeadm's own systemd drop-in relies on. Renderers emit it
// unquoted; it never reaches an exec.
const KubeadmArgsPlaceholder = "$KUBELET_KUBEADM_ARGS"

// CLIOptions adjust a docker, podman or nerdctl command line.
type CLIOptions struct {
	// Detach runs the container in the background (ckubelet run); a systemd unit and a one-shot
	// container stay attached.
	Detach bool
	// Namespace is nerdctl's containerd namespace.
	Namespace string
}

// cliArgs returns the `ENGINE run …` command line for s, grouped into the lines --print shows:
// the first group is the command, then one flag (with its value) per group, then the image and
// its arguments.
func cliArgs(e Engine, s Spec, o CLIOptions) ([][]string, error) {
	switch e {
	case Docker, Podman, Nerdctl:
	default:
		return nil, fmt.Errorf("engine %q has no command line (want docker, podman or nerdctl)", e)
	}
	cmd := []string{string(e)}
	if e == Nerdctl && o.Namespace != "" {
		cmd = append(cmd, "--namespace", o.Namespace)
	}
	cmd = append(cmd, "run")
	groups := [][]string{cmd}
	add := func(words ...string) { groups = append(groups, words) }
	if o.Detach {
		add("--detach")
	}
	if s.Remove {
		add("--rm")
	}
	add("--name", s.Name)
	if s.Restart != "" && s.Restart != RestartNo && !s.Remove {
		add("--restart=" + string(s.Restart))
	}
	if s.Privileged {
		add("--privileged")
	}
	if s.HostNetwork {
		add("--network=host")
	}
	if s.HostPID {
		add("--pid=host")
	}
	if s.HostIPC {
		add("--ipc=host")
	}
	if s.HostUTS {
		add("--uts=host")
	}
	if s.HostCgroupNS {
		add("--cgroupns=host")
	}
	for _, env := range s.Env {
		add("--env", env)
	}
	// -v rather than --mount: the same "SRC:DST:ro,rshared" syntax in all three, each of which
	// makes the container's root propagation shared for an rshared volume (and refuses one whose
	// source is not on a shared mount).
	for _, m := range s.Mounts {
		add("--volume", m.Source+":"+m.Destination+":"+m.Options())
	}
	args := s.Args
	if s.Entrypoint != nil {
		// --entrypoint takes the executable only; the rest goes before the arguments.
		add("--entrypoint", s.Entrypoint[0])
		args = append(append([]string{}, s.Entrypoint[1:]...), args...)
	}
	groups = append(groups, append([]string{s.Image}, args...))
	return groups, nil
}

// CLIArgs is the command line as argv, for exec.
func CLIArgs(e Engine, s Spec, o CLIOptions) ([]string, error) {
	groups, err := cliArgs(e, s, o)
	if err != nil {
		return nil, err
	}
	var argv []string
	for _, g := range groups {
		argv = append(argv, g...)
	}
	return argv, nil
}

// ShellCommand renders the command line for a POSIX shell, one group per line.
func ShellCommand(groups [][]string) string {
	lines := make([]string, len(groups))
	for i, g := range groups {
		words := make([]string, len(g))
		for j, w := range g {
			words[j] = ShellQuote(w)
		}
		lines[i] = strings.Join(words, " ")
	}
	return strings.Join(lines, " \\\n    ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellQuote quotes a word for a POSIX shell: as is when it holds nothing the shell interprets,
// otherwise in single quotes. KubeadmArgsPlaceholder stays unquoted, to be split.
func ShellQuote(w string) string {
	if w == KubeadmArgsPlaceholder || shellSafe.MatchString(w) {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
