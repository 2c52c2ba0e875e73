// Command conformance-docs writes the results section of docs/conformance.md from the reports a
// conformance run left in out/conformance/<mode>/ (make conformance runs it).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ckubelet/ckubelet/internal/report"
)

func main() {
	reports := flag.String("reports", "out/conformance", "directory with a subdirectory of reports per mode")
	doc := flag.String("doc", "docs/conformance.md", "document whose results section to rewrite")
	version := flag.String("version", "v1.37.2", "Kubernetes version of the run")
	flag.Parse()
	var runs []report.ConformanceRun
	for _, m := range []struct{ dir, mode string }{{"join", "ckubelet join"}, {"run", "ckubelet run"}} {
		dir := filepath.Join(*reports, m.dir)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		r, err := report.ReadConformanceRun(dir, m.mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "conformance-docs:", err)
			os.Exit(1)
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		fmt.Fprintf(os.Stderr, "conformance-docs: no reports under %s: run make conformance first\n", *reports)
		os.Exit(1)
	}
	b, err := os.ReadFile(*doc)
	if err == nil {
		b, err = report.ReplaceBetween(b, "<!-- results:begin -->", "<!-- results:end -->", report.ConformanceMarkdown(*version, runs))
	}
	if err == nil {
		err = os.WriteFile(*doc, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance-docs:", err)
		os.Exit(1)
	}
}
