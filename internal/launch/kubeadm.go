package launch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// How `ckubelet join` runs kubeadm (checked against k8s.io/kubernetes v1.37.2,
// cmd/kubeadm/app/cmd/join.go and phases/join):
//
// kubeadm join's phases are preflight, control-plane-prepare, check-etcd, kubelet-start, etcd-join,
// kubelet-wait-bootstrap, control-plane-join, wait-control-plane. kubelet-start writes everything
// kubelet needs — /etc/kubernetes/bootstrap-kubelet.conf, pki/ca.crt, /var/lib/kubelet/config.yaml
// (with instance-config.yaml's containerRuntimeEndpoint merged in) and kubeadm-flags.env — then tries
// `systemctl restart kubelet`, which in a container without systemctl only prints "No supported
// init system detected" and goes on. kubelet-wait-bootstrap then polls kubelet's healthz and waits
// for the TLS bootstrap (/etc/kubernetes/kubelet.conf), which can never happen while kubeadm holds
// the terminal and kubelet is not running. So ckubelet skips that phase (--skip-phases is allowed
// even with --config), starts the kubelet container with the flags of kubeadm-flags.env, and does
// the waiting itself, deleting bootstrap-kubelet.conf afterwards as the phase would have.
//
// kubelet-wait-bootstrap is a phase of its own since kubeadm 1.31 behind the
// ControlPlaneKubeletLocalMode feature gate, on by default from 1.33, always from 1.35; before,
// kubelet-start waited itself and cannot be split. Joining a control-plane node would need
// kubelet running during control-plane-join: not supported.
//
// Preflight in the container: the ServiceCheck for a kubelet service only warns. FileExisting-cp
// fails (the image has no cp; only a control-plane join copies etcd data with it).
// SystemVerification fails on cgroup v1 for kubelet ≥ 1.35 whatever failCgroupV1 says ("you must
// also explicitly skip this validation"); ckubelet sets failCgroupV1: false itself. On cgroup v2
// it runs, reading the kernel config from /boot and /lib/modules, mounted read-only.

// KubeadmSkipPhase is the join phase ckubelet does itself.
const KubeadmSkipPhase = "kubelet-wait-bootstrap"

// JoinOptions are the inputs of JoinSpec.
type JoinOptions struct {
	Name  string // default "kubeadm-join"
	Image string // a kubeadm flavor
	CRI   CRI
	Host  Host
	// Args are the user's kubeadm join arguments.
	Args []string
	// Exists reports whether a host path exists, for the optional mounts; nil uses os.Stat.
	Exists func(path string) bool
}

// JoinArgs returns kubeadm's command line: join, the user's arguments, and what a containerized
// kubelet needs (see above). It refuses --control-plane.
func JoinArgs(o JoinOptions) ([]string, error) {
	if hasFlag(o.Args, "control-plane") {
		return nil, errors.New("join --control-plane is not supported: kubeadm would need kubelet running during its control-plane phases")
	}
	args := append([]string{"join"}, o.Args...)
	args = append(args, "--skip-phases="+KubeadmSkipPhase)
	ignore := []string{"FileExisting-cp"}
	if !o.Host.CgroupV2 {
		ignore = append(ignore, "SystemVerification")
	}
	args = append(args, "--ignore-preflight-errors="+strings.Join(ignore, ","))
	// A --config file cannot be mixed with --cri-socket or --patches: its JoinConfiguration
	// must say both.
	if !hasFlag(o.Args, "config") {
		// kubeadm looks for the CRI socket under /var/run, which the image need not link to
		// /run; name it, unless the user did.
		if !hasFlag(o.Args, "cri-socket") {
			args = append(args, "--cri-socket="+o.CRI.Endpoint)
		}
		if !hasFlag(o.Args, "patches") {
			args = append(args, "--patches="+KubeadmPatchesDir)
		}
	}
	return args, nil
}

// hasFlag reports whether args hold --name or --name=value.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// JoinSpec returns the one-shot kubeadm container: privileged, host network (the API server),
// UTS (the node name is the host name) and PID, with what kubeadm reads and writes.
func JoinSpec(o JoinOptions) (Spec, error) {
	args, err := JoinArgs(o)
	if err != nil {
		return Spec{}, err
	}
	if o.Name == "" {
		o.Name = "kubeadm-join"
	}
	exists := o.Exists
	if exists == nil {
		exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	mounts := []Mount{
		same(KubernetesDir, false, PropagationDefault), // bootstrap-kubelet.conf, pki/ca.crt
		same(KubeletDir, false, PropagationDefault),    // config.yaml, kubeadm-flags.env
		same("/run", false, RSlave),                    // the CRI socket, for preflight
	}
	if dir := o.CRI.socketDir(); dir != "" && !under(dir, "/run") {
		mounts = append(mounts, same(dir, false, RSlave))
	}
	for _, p := range []string{"/lib/modules", "/boot"} { // kernel config, for SystemVerification
		if exists(p) {
			mounts = append(mounts, same(p, true, PropagationDefault))
		}
	}
	return Spec{
		Name:        o.Name,
		Image:       o.Image,
		Entrypoint:  []string{catalog.KubeadmBinary},
		Args:        args,
		Privileged:  true,
		HostNetwork: true,
		HostPID:     true,
		HostUTS:     true,
		// kubeadm mounts nothing; the default private root is fine.
		Mounts:  mounts,
		Restart: RestartNo,
		Remove:  true,
	}, nil
}

// imageMinor extracts the Kubernetes minor from a ckubelet image tag ("kubelet:v1.37.2-kubeadm-trixie"
// → 37); ok is false for other tags.
var tagVersion = regexp.MustCompile(`:v1\.(\d+)\.\d+`)

func imageMinor(ref string) (int, bool) {
	m := tagVersion.FindStringSubmatch(ref)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// CheckJoinImage refuses images whose kubeadm cannot skip its kubelet wait (see above), when the tag
// tells the version; 1.31 and 1.32 work with the feature gate on.
func CheckJoinImage(ref string, kubeadmArgs []string) error {
	minor, ok := imageMinor(ref)
	if !ok || minor >= 33 {
		return nil
	}
	gate := slices.ContainsFunc(kubeadmArgs, func(a string) bool { return strings.Contains(a, "ControlPlaneKubeletLocalMode=true") })
	if minor >= 31 && gate {
		return nil
	}
	if minor >= 31 {
		return fmt.Errorf("kubeadm 1.%d waits for kubelet inside its kubelet-start phase: add --feature-gates=ControlPlaneKubeletLocalMode=true to the kubeadm arguments (or use 1.33 or newer)", minor)
	}
	return fmt.Errorf("kubeadm 1.%d waits for kubelet inside its kubelet-start phase, which a containerized kubelet cannot satisfy: join needs kubeadm 1.31 or newer", minor)
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseKubeadmFlags parses kubeadm-flags.env, which kubeadm writes as
// KUBELET_KUBEADM_ARGS="--flag=value ..." (Go %q quoting), into kubelet arguments. Like systemd's
// and the shell's unquoted $KUBELET_KUBEADM_ARGS, it splits the value at whitespace, so that an
// executed plan and its printed script start the same command. Blank lines, comments and other
// variables are ignored.
func ParseKubeadmFlags(content string) ([]string, error) {
	var value string
	found := false
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, v, ok := strings.Cut(line, "=")
		if !ok || !envName.MatchString(name) {
			return nil, fmt.Errorf("kubeadm-flags.env line %d: want NAME=VALUE, got %q", i+1, line)
		}
		if name != "KUBELET_KUBEADM_ARGS" {
			continue
		}
		switch {
		case strings.HasPrefix(v, `"`):
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("kubeadm-flags.env line %d: bad quoting in %s", i+1, v)
			}
			v = u
		case strings.HasPrefix(v, `'`):
			if len(v) < 2 || !strings.HasSuffix(v, `'`) {
				return nil, fmt.Errorf("kubeadm-flags.env line %d: unterminated quote in %s", i+1, v)
			}
			v = v[1 : len(v)-1]
		}
		value, found = v, true
	}
	if !found {
		return nil, errors.New("kubeadm-flags.env has no KUBELET_KUBEADM_ARGS")
	}
	return strings.Fields(value), nil
}

// ReadKubeadmFlags reads and parses path; a missing file gives no arguments.
func ReadKubeadmFlags(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	args, err := ParseKubeadmFlags(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return args, nil
}

// WaitForBootstrap waits until kubelet has completed its TLS bootstrap (kubelet.conf exists), then
// removes the bootstrap kubeconfig and its token, as kubeadm's kubelet-wait-bootstrap phase does.
func WaitForBootstrap(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if _, err := os.Stat(KubeletKubeconfig); err == nil {
			if err := os.Remove(BootstrapKubeconfig); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubelet did not complete its TLS bootstrap (no %s after %v): see its logs", KubeletKubeconfig, timeout)
		case <-tick.C:
		}
	}
}
