// Command ckubelet builds small multi-arch container images of kubelet and runs them on a node.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// An interrupt cancels the build; outputs are only renamed into place on success, so nothing
	// partial is left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ckubelet:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ckubelet",
		Short:         "Build small multi-arch kubelet images from verified sources, without a Docker daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newBuildCommand(), newLockCommand(), newReleasesCommand(), newSizesCommand())
	root.AddCommand(newRunCommand(), newJoinCommand(), newBundleCommand(), newInstallCommand())
	return root
}
