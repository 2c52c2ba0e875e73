package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/report"
)

func newSizesCommand() *cobra.Command {
	var out, chart, readme string
	var layers bool
	cmd := &cobra.Command{
		Use:   "sizes",
		Short: "Print the size table (compressed / extracted MiB per image and platform) of a built OCI layout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := output.ParseTarget(out)
			if err != nil {
				return err
			}
			if target.Kind != output.OCI {
				return fmt.Errorf("sizes reads an OCI layout: pass --output oci:DIR")
			}
			rows, err := report.Measure(target.Dest)
			if err != nil {
				return fmt.Errorf("measuring %s: %w", target.Dest, err)
			}
			var table bytes.Buffer
			if err := report.Markdown(&table, rows); err != nil {
				return err
			}
			// The original project's last release: show how far below its published sizes we are.
			if slices.ContainsFunc(rows, func(r report.Row) bool { return r.Version == report.OriginalVersion }) {
				table.WriteString("\n")
				if err := report.Compare(&table, rows, report.OriginalVersion, report.OriginalName, report.OriginalV1260); err != nil {
					return err
				}
			}
			if layers {
				table.WriteString("\n")
				if err := report.LayersMarkdown(&table, rows); err != nil {
					return err
				}
			}
			if chart != "" {
				if err := output.ReplaceFile(chart, func(f *os.File) error { return report.SVG(f, rows) }); err != nil {
					return fmt.Errorf("writing %s: %w", chart, err)
				}
			}
			if readme != "" {
				return report.UpdateSection(readme, table.Bytes())
			}
			_, err = cmd.OutOrStdout().Write(table.Bytes())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "output", output.DefaultTarget, "the OCI layout a build wrote (oci:DIR)")
	f.StringVar(&chart, "chart", "", "also draw the compressed sizes as a grouped bar chart into this SVG file")
	f.BoolVar(&layers, "layers", false, "also print where the bytes go: every layer's size, and kubelet's and kube-proxy's image over their binary's layer")
	f.StringVar(&readme, "update-readme", "", "write the table into this Markdown file's sizes section instead of printing it")
	return cmd
}
