package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/output"
)

func newLockCommand() *cobra.Command {
	var (
		platforms, lockfile, cacheDir string
		shown                         progressFlag
		deb                           debianFlags
	)
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Resolve the userland's Debian packages for every platform and write them to a lock file",
		Long: "lock records the exact Debian packages (name, version, architecture, SHA256, pool path) the\n" +
			"userland of each platform is cut from. `ckubelet build --lockfile FILE` then installs exactly\n" +
			"that set, or fails naming what differs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := catalog.ParsePlatforms(platforms)
			if err != nil {
				return err
			}
			src, err := deb.source()
			if err != nil {
				return err
			}
			prog, err := shown.reporter()
			if err != nil {
				return err
			}
			lock, err := build.ResolveLock(cmd.Context(), build.Options{Platforms: ps, Debian: src, CacheDir: cacheDir, Progress: prog})
			prog.Wait()
			if err != nil {
				return err
			}
			if err := output.ReplaceFile(lockfile, func(f *os.File) error { return lock.Write(f) }); err != nil {
				return fmt.Errorf("writing %s: %w", lockfile, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d packages for %d platforms)\n", lockfile, len(lock.Packages), len(ps))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platforms, "platform", catalog.DefaultPlatforms, "comma-separated platforms")
	f.StringVar(&lockfile, "lockfile", "ckubelet.lock", "lock file to write")
	f.StringVar(&cacheDir, "cache-dir", build.DefaultCacheDir(), "where Debian indexes are cached")
	deb.register(f)
	shown.register(f)
	return cmd
}
