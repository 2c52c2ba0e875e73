package launch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/ckubelet/ckubelet/internal/output"
)

// A Plan is everything `ckubelet run` or `join` does on a host, as a list of steps. The same plan
// is either executed (Execute) or printed as a POSIX sh script (Script), so what --print shows is
// what run does.
type Plan struct {
	// Header is the script's leading comment: the host facts the plan was made for.
	Header string
	Steps  []Step
	// Warnings are printed on stderr before executing, and as comments in the script.
	Warnings []string
}

// A Step is one thing the plan does: executed here, or rendered as shell lines that do the same.
type Step interface {
	// Do performs the step.
	Do(ctx context.Context, x *executor) error
	// Script renders the step as POSIX sh lines (no trailing newline).
	Script(ctx context.Context, x *executor) (string, error)
}

// executor is what steps share while a plan runs or is rendered.
type executor struct {
	stdout, stderr io.Writer
	// containerd connects lazily: only plans that use the Go client, or need an image's entrypoint
	// for ctr, talk to the daemon.
	containerdOpts ContainerdOptions
	containerd     *ContainerdClient
	// run executes a command (tests replace it).
	run func(ctx context.Context, argv []string, stdout, stderr io.Writer) error
}

func (x *executor) client(ctx context.Context) (*ContainerdClient, error) {
	if x.containerd == nil {
		c, err := ConnectContainerd(ctx, x.containerdOpts)
		if err != nil {
			return nil, err
		}
		x.containerd = c
	}
	return x.containerd, nil
}

func (x *executor) close() {
	if x.containerd != nil {
		x.containerd.Close()
	}
}

// Execute runs the plan's steps in order, stopping at the first failure.
func (p *Plan) Execute(ctx context.Context, x *executor) error {
	defer x.close()
	for _, w := range p.Warnings {
		fmt.Fprintf(x.stderr, "ckubelet: warning: %s\n", w)
	}
	for _, s := range p.Steps {
		if err := s.Do(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// Script renders the plan as a POSIX sh script.
func (p *Plan) Script(ctx context.Context, x *executor) (string, error) {
	defer x.close()
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	for _, l := range strings.Split(p.Header, "\n") {
		if l != "" {
			fmt.Fprintf(&b, "# %s\n", l)
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "# WARNING: %s\n", w)
	}
	b.WriteString("set -e\n")
	for _, s := range p.Steps {
		text, err := s.Script(ctx, x)
		if err != nil {
			return "", err
		}
		if text != "" {
			b.WriteString(text + "\n")
		}
	}
	return b.String(), nil
}

// command runs argv. Words equal to KubeadmArgsPlaceholder are replaced, when the command runs,
// by the words of KUBELET_KUBEADM_ARGS in kubeadm-flags.env, as the script's unquoted variable
// is split by the shell after sourcing the file.
type command struct {
	argv [][]string // grouped as the script shows them: one group per line
	// bestEffort ignores a failure (removing a container that may not exist).
	bestEffort bool
}

func (c command) words() []string { return slices.Concat(c.argv...) }

func (c command) Do(ctx context.Context, x *executor) error {
	argv, err := expandKubeadmArgs(c.words())
	if err != nil {
		return err
	}
	if c.bestEffort {
		x.run(ctx, argv, io.Discard, io.Discard)
		return nil
	}
	return x.run(ctx, argv, x.stdout, x.stderr)
}

func (c command) Script(context.Context, *executor) (string, error) {
	s := ShellCommand(c.argv)
	if c.bestEffort {
		s += " >/dev/null 2>&1 || true"
	}
	return s, nil
}

// expandKubeadmArgs replaces KubeadmArgsPlaceholder by the flags of kubeadm-flags.env.
func expandKubeadmArgs(argv []string) ([]string, error) {
	i := slices.Index(argv, KubeadmArgsPlaceholder)
	if i < 0 {
		return argv, nil
	}
	flags, err := ReadKubeadmFlags(KubeadmFlagsPath)
	if err != nil {
		return nil, err
	}
	return slices.Concat(argv[:i], flags, argv[i+1:]), nil
}

// runCommand is the default command runner: the named program, its output to the given writers.
func (o *Options) runCommand(ctx context.Context, argv []string, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv[:min(len(argv), 2)], " "), err)
	}
	return nil
}

// mkdirs creates directories that mounts need (runc, podman and docker --mount refuse a missing
// source).
type mkdirs []string

func (m mkdirs) Do(context.Context, *executor) error {
	for _, d := range m {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating mount source: %w", err)
		}
	}
	return nil
}

func (m mkdirs) Script(context.Context, *executor) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	return ShellCommand([][]string{append([]string{"mkdir", "-p"}, m...)}), nil
}

// writeFile writes a file atomically. content is computed when the step runs or is rendered,
// since a systemd unit for ctr needs the image's entrypoint from the daemon.
type writeFile struct {
	path    string
	content func(ctx context.Context, x *executor) ([]byte, error)
	note    string // said on stderr when writing, e.g. what a configuration sets
}

func fileContent(b []byte) func(context.Context, *executor) ([]byte, error) {
	return func(context.Context, *executor) ([]byte, error) { return b, nil }
}

func (w writeFile) Do(ctx context.Context, x *executor) error {
	b, err := w.content(ctx, x)
	if err != nil {
		return err
	}
	if err := output.ReplaceFile(w.path, func(f *os.File) error { _, err := f.Write(b); return err }); err != nil {
		return err
	}
	if w.note != "" {
		fmt.Fprintf(x.stderr, "ckubelet: wrote %s: %s\n", w.path, w.note)
	} else {
		fmt.Fprintf(x.stderr, "ckubelet: wrote %s\n", w.path)
	}
	return nil
}

func (w writeFile) Script(ctx context.Context, x *executor) (string, error) {
	b, err := w.content(ctx, x)
	if err != nil {
		return "", err
	}
	text := string(b)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	var s strings.Builder
	if w.note != "" {
		fmt.Fprintf(&s, "# %s\n", w.note)
	}
	fmt.Fprintf(&s, "mkdir -p %s\n", ShellQuote(dirOf(w.path)))
	// A quoted here-document delimiter: the shell expands nothing inside.
	delim := "EOF"
	for strings.Contains(text, "\n"+delim+"\n") || strings.HasPrefix(text, delim+"\n") {
		delim += "_"
	}
	fmt.Fprintf(&s, "cat > %s.tmp <<'%s'\n%s%s\n", ShellQuote(w.path), delim, text, delim)
	fmt.Fprintf(&s, "mv -f %[1]s.tmp %[1]s", ShellQuote(w.path))
	return s.String(), nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// note says something in the script and on stderr without doing anything.
type note string

func (n note) Do(_ context.Context, x *executor) error {
	fmt.Fprintf(x.stderr, "ckubelet: %s\n", string(n))
	return nil
}

func (n note) Script(context.Context, *executor) (string, error) { return "# " + string(n), nil }

// sharedCheck refuses to go on when a source of an rshared mount is not on a shared mount:
// kubelet's volume mounts would stay inside its container.
type sharedCheck struct{ spec Spec }

func (c sharedCheck) Do(context.Context, *executor) error { return CheckSharedMounts(c.spec) }

func (c sharedCheck) Script(context.Context, *executor) (string, error) {
	var sources []string
	for _, m := range c.spec.Mounts {
		if m.Propagation == RShared {
			sources = append(sources, ShellQuote(m.Source))
		}
	}
	if len(sources) == 0 {
		return "", nil
	}
	// findmnt --target names the mount holding a path; a source not created yet is checked at its
	// nearest existing parent, where it will be created.
	return `for p in ` + strings.Join(sources, " ") + `; do
    m=$p; while [ ! -e "$m" ]; do m=${m%/*}; m=${m:-/}; done
    case "$(findmnt -no PROPAGATION --target "$m")" in
    shared*) ;;
    *) echo "$p is not on a shared mount: kubelet's volume mounts would not reach the runtime; run mount --make-rshared /" >&2; exit 1 ;;
    esac
done`, nil
}

// waitBootstrap waits for kubelet's TLS bootstrap, then removes the bootstrap kubeconfig, as
// kubeadm's kubelet-wait-bootstrap phase does (see kubeadm.go).
type waitBootstrap struct{ timeout time.Duration }

func (w waitBootstrap) Do(ctx context.Context, x *executor) error {
	fmt.Fprintf(x.stderr, "ckubelet: waiting up to %v for kubelet's TLS bootstrap\n", w.timeout)
	if err := WaitForBootstrap(ctx, w.timeout); err != nil {
		return err
	}
	fmt.Fprintf(x.stderr, "ckubelet: kubelet wrote %s; removed %s\n", KubeletKubeconfig, BootstrapKubeconfig)
	return nil
}

func (w waitBootstrap) Script(context.Context, *executor) (string, error) {
	return fmt.Sprintf(`# Wait for kubelet's TLS bootstrap, then remove the bootstrap token's kubeconfig.
i=0
while [ ! -f %[1]s ]; do
    i=$((i + 1)); [ "$i" -le %[2]d ] || { echo "kubelet did not complete its TLS bootstrap in %[2]ds: see its logs" >&2; exit 1; }
    sleep 1
done
rm -f %[3]s`, KubeletKubeconfig, int(w.timeout.Seconds()), BootstrapKubeconfig), nil
}
