package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/report"
	"github.com/ckubelet/ckubelet/internal/upx"
)

// buildFlags are the flags build and bundle share: what to build, and how.
type buildFlags struct {
	version, platforms, flavors, compression, cacheDir, lockfile, pack string
	cgo, verbose                                                       bool
	compressionLevel                                                   int
	shown                                                              progressFlag
	deb                                                                debianFlags
}

func (b *buildFlags) register(f *pflag.FlagSet, platforms, flavors string) {
	f.StringVar(&b.version, "kubernetes-version", "latest", "Kubernetes releases, comma-separated: latest, supported (newest patch of each supported minor), MAJOR.MINOR (newest patch) or vX.Y.Z")
	f.StringVar(&b.platforms, "platform", platforms, "comma-separated platforms, or all")
	f.StringVar(&b.flavors, "flavor", flavors, "comma-separated: kubelet, flannel, cni, kubeadm, kubeadm-cni, kube-proxy, pause, or all")
	f.BoolVar(&b.cgo, "cgo", false, "build kubelet with cgo and a C cross compiler per target, as upstream does (default: static)")
	pack := upx.DefaultTools
	if _, err := upx.Find(""); err != nil {
		pack = "none"
	}
	f.StringVar(&b.pack, "upx", pack, "tools to pack with UPX, each checked by running it: a comma list of kubeadm, crictl, cni, all or none (default: kubeadm,crictl when upx is installed)")
	f.StringVar(&b.compression, "compression", oci.Zstd.Format, "layer compression: zstd (smallest; containerd ≥ 1.5, docker ≥ 23, podman ≥ 3) or gzip (any engine)")
	f.IntVar(&b.compressionLevel, "compression-level", 0, "zstd 1-19 or gzip 1-9; lower builds faster, larger (default: the smallest, 19 or 9)")
	f.StringVar(&b.cacheDir, "cache-dir", build.DefaultCacheDir(), "where compiled binaries and layers are cached")
	f.BoolVar(&b.verbose, "verbose", false, "show the go command's output")
	f.StringVar(&b.lockfile, "lockfile", "", "install exactly the Debian packages of this lock file (see ckubelet lock); fail if the archive resolves differently")
	b.deb.register(f)
	b.shown.register(f)
}

// options are the build options of the flags; the caller sets Output and waits for Progress.
func (b *buildFlags) options() (build.Options, error) {
	ps, err := catalog.ParsePlatforms(b.platforms)
	if err != nil {
		return build.Options{}, err
	}
	selection, err := catalog.ParseSelection(b.flavors)
	if err != nil {
		return build.Options{}, err
	}
	pack, err := upx.ParseSelection(b.pack)
	if err != nil {
		return build.Options{}, err
	}
	comp, err := oci.ParseCompression(b.compression, b.compressionLevel)
	if err != nil {
		return build.Options{}, err
	}
	src, err := b.deb.source()
	if err != nil {
		return build.Options{}, err
	}
	var lock *debian.Lock
	if b.lockfile != "" {
		if lock, err = readLock(b.lockfile); err != nil {
			return build.Options{}, err
		}
	}
	var goOutput io.Writer
	if b.verbose {
		goOutput = os.Stderr
	}
	prog, err := b.shown.reporter()
	if err != nil {
		return build.Options{}, err
	}
	return build.Options{
		KubernetesVersion: b.version,
		Selection:         selection,
		Platforms:         ps,
		Cgo:               b.cgo,
		UPX:               pack,
		Compression:       comp,
		Debian:            src,
		Lock:              lock,
		CacheDir:          b.cacheDir,
		Verbose:           goOutput,
		Progress:          prog,
	}, nil
}

func newBuildCommand() *cobra.Command {
	var (
		b   buildFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the selected images (kubelet flavors, kube-proxy, pause) for every platform and write them to the output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := output.ParseTarget(out)
			if err != nil {
				return err
			}
			o, err := b.options()
			if err != nil {
				return err
			}
			o.Output = target
			res, err := build.Run(cmd.Context(), o)
			o.Progress.Wait()
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(os.Stderr, "ckubelet: warning:", w)
			}
			return printSummary(cmd.OutOrStdout(), target, res)
		},
	}
	f := cmd.Flags()
	b.register(f, catalog.DefaultPlatforms, catalog.DefaultSelection)
	f.StringVar(&out, "output", output.DefaultTarget, "oci:DIR, oci-archive:FILE, docker-archive:FILE (one platform) or registry:REPO")
	return cmd
}

// printSummary lists what was written: each image, its platforms, digests and sizes.
func printSummary(w io.Writer, target output.Target, res *build.Result) error {
	for _, n := range res.Images {
		d, err := n.Index.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %s (index %s)\n", target, n.Image.Ref(), d)
		sizes, err := report.IndexSizes(n.Index)
		if err != nil {
			return err
		}
		for _, s := range sizes {
			fmt.Fprintf(w, "  %-13s %s  %s MiB compressed / %s MiB extracted\n", s.Platform, s.Digest, report.MiB(s.Compressed), report.MiB(s.Extracted))
		}
	}
	return nil
}
