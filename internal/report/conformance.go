package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ConformanceRun is one run of upstream's conformance suite, read from the reports the ginkgo CLI
// writes: junit.xml (every spec's state, skip and failure messages) and report.json (attempts,
// for flakes, and the run time).
type ConformanceRun struct {
	Mode                              string // how the node was started, e.g. "ckubelet join"
	Selected, Passed, Failed, Skipped int
	Flaked                            []string // passed on a second attempt
	Failures                          []Spec
	Skips                             []Spec
	Wall                              time.Duration
	// Focus and Skip are the run's ginkgo selection, Procs its parallel processes.
	Focus, Skip []string
	Procs       int
}

// Spec is one spec and the framework's message about it.
type Spec struct{ Name, Message string }

// junitSuites is the part of ginkgo's JUnit report read here.
type junitSuites struct {
	Suites []struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Status  string `xml:"status,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			Failure *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ReadConformanceRun reads dir/junit.xml and dir/report.json of one run.
func ReadConformanceRun(dir, mode string) (ConformanceRun, error) {
	run := ConformanceRun{Mode: mode}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		return run, err
	}
	var j junitSuites
	if err := xml.Unmarshal(b, &j); err != nil {
		return run, fmt.Errorf("%s/junit.xml: %w", dir, err)
	}
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			// Ginkgo reports its suite setup, teardown and report nodes as test cases too; specs
			// are "[It] …".
			if !strings.HasPrefix(c.Name, "[It] ") {
				continue
			}
			switch {
			case c.Status == "passed":
				run.Passed++
			case c.Status == "skipped" || c.Status == "pending" || c.Skipped != nil:
				// Ginkgo lists the specs its focus and skip left out as "skipped" too; the ones
				// skipped while running say why: "skipped - REASON".
				msg := ""
				if c.Skipped != nil {
					msg = c.Skipped.Message
				}
				if msg == "skipped" || msg == "" && c.Status == "skipped" {
					continue
				}
				run.Skips = append(run.Skips, Spec{strings.TrimPrefix(c.Name, "[It] "), oneLine(strings.TrimPrefix(msg, "skipped - "))})
				run.Skipped++
			default:
				msg := ""
				if c.Failure != nil {
					msg = c.Failure.Message
				} else if c.Error != nil {
					msg = c.Error.Message
				}
				run.Failures = append(run.Failures, Spec{strings.TrimPrefix(c.Name, "[It] "), oneLine(msg)})
				run.Failed++
			}
		}
	}
	b, err = os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return run, err
	}
	var reports []struct {
		RunTime     time.Duration
		PreRunStats struct{ SpecsThatWillRun int }
		SuiteConfig struct {
			FocusStrings, SkipStrings []string
			ParallelTotal             int
		}
		SpecReports []struct {
			LeafNodeType            string
			ContainerHierarchyTexts []string
			LeafNodeText            string
			State                   string
			NumAttempts             int
		}
	}
	if err := json.Unmarshal(b, &reports); err != nil {
		return run, fmt.Errorf("%s/report.json: %w", dir, err)
	}
	for _, r := range reports {
		run.Focus, run.Skip, run.Procs = r.SuiteConfig.FocusStrings, r.SuiteConfig.SkipStrings, r.SuiteConfig.ParallelTotal
		run.Wall += r.RunTime
		run.Selected += r.PreRunStats.SpecsThatWillRun
		for _, sp := range r.SpecReports {
			if sp.LeafNodeType == "It" && sp.State == "passed" && sp.NumAttempts > 1 {
				run.Flaked = append(run.Flaked, strings.Join(append(slices.Clone(sp.ContainerHierarchyTexts), sp.LeafNodeText), " "))
			}
		}
	}
	return run, nil
}

// oneLine is the first line of a message, for a table.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// ConformanceMarkdown renders the runs: counts, wall time, every skip with the framework's
// reason, every failure and flake.
func ConformanceMarkdown(version string, runs []ConformanceRun) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Kubernetes %s, upstream's `e2e.test` of the same version.\n\n", version)
	if len(runs) > 0 {
		r := runs[0]
		fmt.Fprintf(&b, "Selection: `--focus='%s'` `--skip='%s'`, %d parallel processes, at most two attempts per spec.\n\n",
			strings.Join(r.Focus, "|"), strings.Join(r.Skip, "|"), r.Procs)
	}
	b.WriteString("| node started by | selected | passed | failed | skipped | flaked | wall time |\n|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d | %d | %d | %s |\n", r.Mode, r.Selected, r.Passed, r.Failed, r.Skipped, len(r.Flaked), r.Wall.Round(time.Second))
	}
	for _, r := range runs {
		fmt.Fprintf(&b, "\n#### `%s`\n\n", r.Mode)
		if len(r.Failures) == 0 && len(r.Skips) == 0 && len(r.Flaked) == 0 {
			b.WriteString("Every selected spec passed at its first attempt.\n")
			continue
		}
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- failed: %s — %s\n", f.Name, f.Message)
		}
		for _, s := range r.Skips {
			fmt.Fprintf(&b, "- skipped: %s — %s\n", s.Name, s.Message)
		}
		for _, f := range r.Flaked {
			fmt.Fprintf(&b, "- flaked (passed at its second attempt): %s\n", f)
		}
	}
	return []byte(b.String())
}
