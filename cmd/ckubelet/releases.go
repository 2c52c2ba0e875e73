package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
)

func newReleasesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "releases",
		Short: "List the supported Kubernetes minors and their newest patch releases on the Go module proxy",
		Long: "releases lists the newest patch of each of the newest three Kubernetes minors served by the\n" +
			"Go module proxy; `ckubelet build --kubernetes-version supported` builds exactly these.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			available, err := (&gobuild.Go{}).ListVersions(cmd.Context(), gobuild.KubernetesModule)
			if err != nil {
				return err
			}
			for _, v := range catalog.SupportedReleases(available) {
				fmt.Fprintf(cmd.OutOrStdout(), "1.%s\t%s\n", v.Minor(), v)
			}
			return nil
		},
	}
}
