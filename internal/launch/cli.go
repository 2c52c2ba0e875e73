package launch

import (
	"context"
	"regexp"
	"strings"
)

// Engine names what runs the container under systemd (--engine).
type Engine string

const (
	Docker     Engine = "docker"
	Podman     Engine = "podman"
	Nerdctl    Engine = "nerdctl"
	Containerd Engine = "containerd" // the containerd Go client; under systemd, ctr
)

// KubeadmArgsPlaceholder stands, in a rendered command, for the words of KUBELET_KUBEADM_ARGS, which
// kubeadm join writes to /var/lib/kubelet/kubeadm-flags.env: the shell and systemd both split an
// unquoted $VAR at whitespace, as kubeadm's own systemd drop-in relies on, and an executed plan
// splits the file's value the same way. Renderers emit it unquoted.
const KubeadmArgsPlaceholder = "$KUBELET_KUBEADM_ARGS"

// cliEngine is a docker-compatible command line: docker, podman and nerdctl take the same `run`
// flags and differ only in their global flags and the daemon they need.
type cliEngine struct {
	name   string
	global []string     // flags before the subcommand (nerdctl's --namespace)
	daemon string       // systemd unit of the daemon the CLI talks to; podman has none
	store  string       // where it keeps images (nerdctl: containerd's namespace)
	zstd   *zstdSupport // nil: no check of its own (nerdctl pulls through containerd)
}

func (e *cliEngine) String() string  { return e.name }
func (e *cliEngine) service() string { return e.daemon }

// cmd is the engine with its global flags and a subcommand.
func (e *cliEngine) cmd(sub ...string) []string {
	return append(append([]string{e.name}, e.global...), sub...)
}

func (e *cliEngine) PullCheck(image string) Step { return cliPullCheck{e: e, image: image} }

func (e *cliEngine) imageStore() string { return e.store }

func (e *cliEngine) Load(archive string) []Step {
	return []Step{command{argv: [][]string{e.cmd("load", "--input", archive)}}}
}

func (e *cliEngine) Start(s Spec, replace bool) []Step {
	var steps []Step
	if replace {
		steps = append(steps, command{argv: [][]string{e.cmd("rm", "--force", s.Name)}, bestEffort: true})
	}
	return append(steps, command{argv: e.runArgs(s, true)})
}

func (e *cliEngine) RunOnce(s Spec, replace bool) []Step {
	var steps []Step
	if replace {
		steps = append(steps, command{argv: [][]string{e.cmd("rm", "--force", s.Name)}, bestEffort: true})
	}
	return append(steps, command{argv: e.runArgs(s, false)})
}

func (e *cliEngine) unitCommands(_ context.Context, _ *executor, s Spec) (pre, run [][]string, stop []string, err error) {
	return [][]string{e.cmd("rm", "--force", s.Name)}, e.runArgs(s, false), e.cmd("stop", s.Name), nil
}

// runArgs returns the `ENGINE run …` command line for s, grouped into the lines a script shows:
// the first group is the command, then one flag (with its value) per group, then the image and
// its arguments.
func (e *cliEngine) runArgs(s Spec, detach bool) [][]string {
	groups := [][]string{e.cmd("run")}
	add := func(words ...string) { groups = append(groups, words) }
	if detach {
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
	return append(groups, append([]string{s.Image}, args...))
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
