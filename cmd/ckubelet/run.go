package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ckubelet/ckubelet/internal/launch"
)

// launchFlags are the flags run and join share.
type launchFlags struct {
	runtime, engine, image, name           string
	mounts, env                            []string
	nodeIP, cri, criSocket, cgroupDriver   string
	address, namespace, snapshotter, logTo string
	replace, print                         bool
}

// register adds the flags; run and join also take --image (registerImage).
func (l *launchFlags) register(f *pflag.FlagSet, defaultRuntime string) {
	usage := "what runs kubelet: " + strings.Join(launch.Runtimes, ", ")
	if defaultRuntime == "" {
		usage += " (required)"
	}
	f.StringVar(&l.runtime, "runtime", defaultRuntime, usage)
	f.StringVar(&l.engine, "engine", "docker", "for --runtime systemd: the engine the unit wraps (docker, podman, nerdctl, containerd via ctr)")
	f.StringVar(&l.name, "name", "kubelet", "the kubelet container's name (and the systemd unit's)")
	f.StringArrayVar(&l.mounts, "mount", nil, "host path for hostPath or local volumes, SRC[:DST[:OPTS]], default rw,rshared at the same path (repeatable)")
	f.StringArrayVar(&l.env, "env", nil, "KEY=VALUE for the kubelet container (repeatable)")
	f.StringVar(&l.nodeIP, "node-ip", "", "kubelet --node-ip")
	f.StringVar(&l.cri, "cri", "containerd", "the container runtime kubelet manages pods with: containerd or crio")
	f.StringVar(&l.criSocket, "cri-socket", "", "the CRI socket, if not the runtime's default")
	f.StringVar(&l.cgroupDriver, "cgroup-driver", "", "systemd or cgroupfs (default: systemd if PID 1 is systemd); must match the runtime's")
	f.StringVar(&l.address, "containerd-address", launch.DefaultContainerdAddress, "containerd's socket (containerd runtime, nerdctl, ctr)")
	f.StringVar(&l.namespace, "namespace", launch.DefaultNamespace, "containerd namespace (containerd runtime, nerdctl, ctr)")
	f.StringVar(&l.snapshotter, "snapshotter", "", "containerd snapshotter (default: containerd's default)")
	f.StringVar(&l.logTo, "log-file", "", "containerd runtime: kubelet's log file (default /var/log/ckubelet/NAME.log)")
	f.BoolVar(&l.replace, "replace", false, "remove an existing container of the same name first")
	f.BoolVar(&l.print, "print", false, "print what would run (a sh script, a systemd unit, or containerd's container as JSON) and change nothing")
}

func (l *launchFlags) registerImage(f *pflag.FlagSet) {
	f.StringVar(&l.image, "image", "", "the kubelet image (required); with containerd it must already be imported")
}

// configFlags are the flags of the kubelet configuration run and install write without kubeadm.
type configFlags struct {
	path    string
	force   bool
	cluster launch.ClusterSettings
}

func (c *configFlags) register(f *pflag.FlagSet) {
	f.StringVar(&c.path, "write-config", launch.KubeletConfigPath, "kubelet configuration to create if absent (\"\" for none)")
	f.BoolVar(&c.force, "force", false, "merge this host's settings into an existing --write-config file")
	f.StringSliceVar(&c.cluster.DNS, "cluster-dns", nil, "the cluster DNS service's IP addresses, for a configuration written without kubeadm (kubeadm clusters: 10.96.0.10)")
	f.StringVar(&c.cluster.Domain, "cluster-domain", "cluster.local", "the cluster's DNS domain, for a configuration written without kubeadm")
}

// apply sets the configuration options.
func (c *configFlags) apply(o *launch.Options) {
	o.ConfigPath, o.Force, o.Cluster = c.path, c.force, c.cluster
}

// options are the launch options of the flags; image is the --image flag's value, or the image
// a command knows otherwise (install's bundle).
func (l *launchFlags) options(cmd *cobra.Command) (launch.Options, error) {
	if l.runtime == "" {
		return launch.Options{}, errors.New("--runtime is required: " + strings.Join(launch.Runtimes, ", "))
	}
	if l.image == "" && cmd.Flags().Lookup("image") != nil {
		return launch.Options{}, errors.New("--image is required")
	}
	if cmd.Flags().Changed("engine") && l.runtime != "systemd" {
		return launch.Options{}, errors.New("--engine only applies to --runtime systemd")
	}
	cri, err := launch.LookupCRI(l.cri, l.criSocket)
	if err != nil {
		return launch.Options{}, err
	}
	var mounts []launch.Mount
	for _, s := range l.mounts {
		m, err := launch.ParseMount(s)
		if err != nil {
			return launch.Options{}, err
		}
		mounts = append(mounts, m)
	}
	for _, e := range l.env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return launch.Options{}, fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	return launch.Options{
		Runtime: l.runtime, Engine: launch.Engine(l.engine), Image: l.image, Name: l.name,
		Mounts: mounts, Env: l.env, NodeIP: l.nodeIP, CRI: cri, CgroupDriver: l.cgroupDriver,
		Containerd: launch.ContainerdOptions{Address: l.address, Namespace: l.namespace, Snapshotter: l.snapshotter, LogFile: l.logTo},
		Replace:    l.replace, Print: l.print,
		Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(),
	}, nil
}

// argsAfterDash returns the arguments after "--", refusing any before it: they would be ambiguous
// between ckubelet's flags and the wrapped program's.
func argsAfterDash(cmd *cobra.Command, args []string, what string) ([]string, error) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 && len(args) > 0 || dash > 0 {
		return nil, fmt.Errorf("unexpected argument %q: %s go after --", args[0], what)
	}
	return args, nil
}

func newRunCommand() *cobra.Command {
	var (
		l   launchFlags
		cfg configFlags
	)
	cmd := &cobra.Command{
		Use:   "run --runtime RUNTIME --image REF [flags] [-- KUBELET-ARGS...]",
		Short: "Run a kubelet image as this node's kubelet (docker, podman, nerdctl, containerd or a systemd unit)",
		Long: "run starts the kubelet container privileged, in the host's network, PID, IPC, UTS and cgroup\n" +
			"namespaces, with the host mounts kubelet needs (/var/lib/kubelet rshared, so that volume mounts\n" +
			"reach the runtime). It detects the cgroup version and driver and writes them into the kubelet\n" +
			"configuration (--write-config) unless one exists (--force merges into it); a new configuration\n" +
			"also trusts the cluster CA at /etc/kubernetes/pki/ca.crt for the API server's exec, logs and\n" +
			"port-forward. With --runtime containerd it creates the container with the containerd Go client\n" +
			"and containerd's restart monitor keeps it running; with --runtime systemd it installs a unit\n" +
			"wrapping --engine. --print shows all of it as a sh script and changes nothing.",
		Example: "  ckubelet run --runtime containerd --image kubelet:v1.37.2-trixie\n" +
			"  ckubelet run --runtime systemd --engine podman --image kubelet:v1.37.2-trixie --print\n" +
			"  ckubelet run --runtime docker --image kubelet:v1.37.2-trixie --mount /srv/data -- --v=2",
		RunE: func(cmd *cobra.Command, args []string) error {
			kubeletArgs, err := argsAfterDash(cmd, args, "kubelet arguments")
			if err != nil {
				return err
			}
			o, err := l.options(cmd)
			if err != nil {
				return err
			}
			o.KubeletArgs = kubeletArgs
			cfg.apply(&o)
			return launch.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	l.register(f, "")
	l.registerImage(f)
	cfg.register(f)
	return cmd
}

func newJoinCommand() *cobra.Command {
	var (
		l           launchFlags
		kubeletArgs []string
		wait        time.Duration
		kubeadmRef  string
	)
	cmd := &cobra.Command{
		Use:   "join --image REF [--runtime RUNTIME] [flags] -- KUBEADM-JOIN-ARGS...",
		Short: "Join this node to a cluster with kubeadm from a kubeadm flavor, then run kubelet in a container",
		Long: "join runs `kubeadm join ARGS --skip-phases=kubelet-wait-bootstrap` from the image in a one-shot\n" +
			"privileged container (kubeadm cannot start a containerized kubelet itself), makes the kubelet\n" +
			"configuration kubeadm wrote agree with this host (cgroup driver, failCgroupV1), starts kubelet as\n" +
			"`ckubelet run` does with the flags of /var/lib/kubelet/kubeadm-flags.env, and waits for its TLS\n" +
			"bootstrap. Needs kubeadm ≥ 1.33 (1.31 with --feature-gates=ControlPlaneKubeletLocalMode=true);\n" +
			"worker nodes only.",
		Example: "  ckubelet join --runtime containerd --image kubelet:v1.37.2-kubeadm-trixie -- \\\n" +
			"      10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:…",
		RunE: func(cmd *cobra.Command, args []string) error {
			kubeadmArgs, err := argsAfterDash(cmd, args, "kubeadm join arguments")
			if err != nil {
				return err
			}
			if len(kubeadmArgs) == 0 {
				return errors.New("no kubeadm join arguments: pass them after --")
			}
			o, err := l.options(cmd)
			if err != nil {
				return err
			}
			o.KubeadmArgs, o.KubeletArgs, o.BootstrapWait, o.KubeadmImage = kubeadmArgs, kubeletArgs, wait, kubeadmRef
			return launch.Join(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	l.register(f, "containerd") // what these nodes run
	l.registerImage(f)
	f.StringArrayVar(&kubeletArgs, "kubelet-arg", nil, "an extra kubelet argument, after kubeadm's (repeatable)")
	f.DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for kubelet's TLS bootstrap (0: don't wait)")
	f.StringVar(&kubeadmRef, "kubeadm-image", "", "the image to run kubeadm from, if --image has no kubeadm")
	return cmd
}
