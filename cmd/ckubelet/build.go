package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/report"
	"github.com/ckubelet/ckubelet/internal/upx"
)

func newBuildCommand() *cobra.Command {
	var (
		version, platforms, out, compression, cacheDir, lockfile, flavors string
		cgo, verbose, pack                                                bool
		compressionLevel                                                  int
		shown                                                             progressFlag
		deb                                                               debianFlags
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the selected images (kubelet flavors, kube-proxy, pause) for every platform and write them to the output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := catalog.ParsePlatforms(platforms)
			if err != nil {
				return err
			}
			selection, err := catalog.ParseSelection(flavors)
			if err != nil {
				return err
			}
			target, err := output.ParseTarget(out)
			if err != nil {
				return err
			}
			comp, err := oci.ParseCompression(compression, compressionLevel)
			if err != nil {
				return err
			}
			src, err := deb.source()
			if err != nil {
				return err
			}
			var lock *debian.Lock
			if lockfile != "" {
				if lock, err = readLock(lockfile); err != nil {
					return err
				}
			}
			var goOutput io.Writer
			if verbose {
				goOutput = os.Stderr
			}
			prog, err := shown.reporter()
			if err != nil {
				return err
			}
			res, err := build.Run(cmd.Context(), build.Options{
				KubernetesVersion: version,
				Selection:         selection,
				Platforms:         ps,
				Output:            target,
				Cgo:               cgo,
				UPX:               pack,
				Compression:       comp,
				Debian:            src,
				Lock:              lock,
				CacheDir:          cacheDir,
				Verbose:           goOutput,
				Progress:          prog,
			})
			prog.Wait()
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
	f.StringVar(&version, "kubernetes-version", "latest", "Kubernetes releases, comma-separated: latest, supported (newest patch of each supported minor), MAJOR.MINOR (newest patch) or vX.Y.Z")
	f.StringVar(&platforms, "platform", catalog.DefaultPlatforms, "comma-separated platforms")
	f.StringVar(&flavors, "flavor", catalog.DefaultSelection, "comma-separated: kubelet, flannel, cni, kubeadm, kubeadm-cni, kube-proxy, pause, or all")
	f.StringVar(&out, "output", output.DefaultTarget, "oci:DIR, oci-archive:FILE, docker-archive:FILE (one platform) or registry:REPO")
	f.BoolVar(&cgo, "cgo", false, "build kubelet with cgo and a C cross compiler per target, as upstream does (default: static)")
	_, noUPX := upx.Find("")
	f.BoolVar(&pack, "upx", noUPX == nil, "pack kubeadm, crictl and the CNI plugins with UPX, each checked by running it (default: on when upx is installed)")
	f.StringVar(&compression, "compression", oci.Zstd.Format, "layer compression: zstd (smallest; containerd ≥ 1.5, docker ≥ 23, podman ≥ 3) or gzip (any engine)")
	f.IntVar(&compressionLevel, "compression-level", 0, "zstd 1-19 or gzip 1-9; lower builds faster, larger (default: the smallest, 19 or 9)")
	f.StringVar(&cacheDir, "cache-dir", build.DefaultCacheDir(), "where compiled binaries and layers are cached")
	f.BoolVar(&verbose, "verbose", false, "show the go command's output")
	f.StringVar(&lockfile, "lockfile", "", "install exactly the Debian packages of this lock file (see ckubelet lock); fail if the archive resolves differently")
	deb.register(f)
	shown.register(f)
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
