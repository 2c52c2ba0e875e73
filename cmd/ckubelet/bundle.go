package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ckubelet/ckubelet/internal/bundle"
)

func newBundleCommand() *cobra.Command {
	var (
		b   buildFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "bundle --platform P --flavor F --output FILE [flags]",
		Short: "Write one file with everything a node of one platform needs to start kubelet without a registry",
		Long: "bundle builds one kubelet flavor with kube-proxy and pause for one platform and Kubernetes\n" +
			"release and writes them, with ckubelet built for that platform, the systemd unit of each engine\n" +
			"(containerd, docker, podman) and the SBOMs, into a gzip-compressed tar with a SHA256SUMS file.\n" +
			"The same inputs give the same bytes. On the node: tar xzf FILE ckubelet, then\n" +
			"./ckubelet install --bundle FILE --runtime RUNTIME.",
		Example: "  ckubelet bundle --kubernetes-version v1.37.2 --flavor cni --platform linux/arm64 --output node-arm64.tar.gz",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--output FILE is required")
			}
			o, err := b.options()
			if err != nil {
				return err
			}
			m, sum, err := bundle.Make(cmd.Context(), o, out)
			o.Progress.Wait()
			if err != nil {
				return err
			}
			fi, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s for %s (%s, %s, %s), %.2f MiB\nsha256 %s\n",
				out, m.Flavor, m.Platform, m.Kubelet, m.KubeProxy, m.Pause, float64(fi.Size())/(1<<20), sum)
			return nil
		},
	}
	f := cmd.Flags()
	b.register(f, "", "kubelet")
	f.StringVar(&out, "output", "", "the bundle file to write, e.g. node.tar.gz")
	return cmd
}

func newInstallCommand() *cobra.Command {
	var (
		l         launchFlags
		cfg       configFlags
		path, dir string
	)
	cmd := &cobra.Command{
		Use:   "install --bundle FILE --runtime RUNTIME [flags] [-- KUBELET-ARGS...]",
		Short: "Check a node bundle, load its images into the runtime and start kubelet from them",
		Long: "install checks every file of the bundle against its SHA256SUMS before anything is loaded,\n" +
			"loads its images into the runtime that runs kubelet (containerd, docker, podman, nerdctl, or the\n" +
			"engine of a systemd unit) and into the CRI runtime's store, where pods find pause and\n" +
			"kube-proxy, and starts kubelet as `ckubelet run` does.",
		Example: "  ckubelet install --bundle node.tar.gz --runtime systemd --engine containerd",
		RunE: func(cmd *cobra.Command, args []string) error {
			kubeletArgs, err := argsAfterDash(cmd, args, "kubelet arguments")
			if err != nil {
				return err
			}
			if path == "" {
				return errors.New("--bundle FILE is required")
			}
			o, err := l.options(cmd)
			if err != nil {
				return err
			}
			o.KubeletArgs = kubeletArgs
			cfg.apply(&o)
			return bundle.Install(cmd.Context(), path, dir, o)
		},
	}
	f := cmd.Flags()
	l.register(f, "")
	cfg.register(f)
	f.StringVar(&path, "bundle", "", "the node bundle (see ckubelet bundle)")
	f.StringVar(&dir, "dir", "", "keep the unpacked bundle here, replacing an earlier one (default: a temporary directory, removed once the images are loaded; --print needs one)")
	return cmd
}
