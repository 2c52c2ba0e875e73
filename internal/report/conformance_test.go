package report

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A run's JUnit and JSON reports, as the ginkgo CLI writes them: suite nodes, a spec left out by
// the focus, one skipped while running, one failed, one passed at its second attempt.
const (
	junitFixture = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5">
  <testsuite name="Kubernetes e2e suite" tests="5">
    <testcase name="[SynchronizedBeforeSuite]" status="passed"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance]" status="passed"></testcase>
    <testcase name="[It] [sig-storage] vsphere thing [Slow]" status="skipped"><skipped message="skipped"></skipped></testcase>
    <testcase name="[It] [sig-node] needs a provider [NodeConformance]" status="skipped"><skipped message="skipped - Only supported for providers [gce]&#xA;more"></skipped></testcase>
    <testcase name="[It] [sig-node] PrivilegedPod should enable privileged commands [NodeConformance]" status="failed"><failure message="ip: RTNETLINK answers: Operation not supported | x"></failure></testcase>
    <testcase name="[It] [sig-node] Probing flaky [NodeConformance]" status="passed"></testcase>
  </testsuite>
</testsuites>`
	jsonFixture = `[{"RunTime": 75000000000, "PreRunStats": {"SpecsThatWillRun": 4}, "SpecReports": [
  {"LeafNodeType": "It", "ContainerHierarchyTexts": ["[sig-node] Probing"], "LeafNodeText": "flaky", "State": "passed", "NumAttempts": 2},
  {"LeafNodeType": "It", "ContainerHierarchyTexts": ["[sig-node] Pods"], "LeafNodeText": "should get a host IP", "State": "passed", "NumAttempts": 1}]}]`
)

func TestReadConformanceRun(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "junit.xml"), []byte(junitFixture), 0o644)
	os.WriteFile(filepath.Join(dir, "report.json"), []byte(jsonFixture), 0o644)
	r, err := ReadConformanceRun(dir, "ckubelet join")
	if err != nil {
		t.Fatal(err)
	}
	if r.Selected != 4 || r.Passed != 2 || r.Failed != 1 || r.Skipped != 1 || r.Wall != 75*time.Second {
		t.Errorf("counts %+v", r)
	}
	if len(r.Skips) != 1 || r.Skips[0].Message != "Only supported for providers [gce]" || r.Skips[0].Name != "[sig-node] needs a provider [NodeConformance]" {
		t.Errorf("skips %+v", r.Skips)
	}
	if len(r.Failures) != 1 || !strings.HasPrefix(r.Failures[0].Message, "ip: RTNETLINK answers") {
		t.Errorf("failures %+v", r.Failures)
	}
	if !slices.Equal(r.Flaked, []string{"[sig-node] Probing flaky"}) {
		t.Errorf("flaked %q", r.Flaked)
	}
	md := string(ConformanceMarkdown("v1.37.2", []ConformanceRun{r}))
	for _, want := range []string{"| `ckubelet join` | 4 | 2 | 1 | 1 | 1 | 1m15s |", "- skipped: [sig-node] needs a provider [NodeConformance] — Only supported for providers [gce]",
		`- failed: [sig-node] PrivilegedPod should enable privileged commands [NodeConformance] — ip: RTNETLINK answers: Operation not supported \| x`} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
