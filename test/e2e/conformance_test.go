//go:build conformance

package e2e

// TestConformance runs upstream Kubernetes' [NodeConformance] specs (selection_test.go) against
// a node whose kubelet is ckubelet's kubeadm-cni image, in the e2e test's sandbox and cluster:
// the control plane built from source, kube-proxy and the CNI plugins from ckubelet's images,
// every test image rebuilt here (testimages_test.go) and pulled through containerd from Debian's
// docker-registry on the sandbox's 127.0.0.1, named through KUBE_TEST_REPO_LIST. It runs the
// suite twice: on a node joined with `ckubelet join` (kubeadm), then on one started by `ckubelet
// run` alone from a bootstrap kubeconfig the test writes, as edge nodes often start.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ckubelet/ckubelet/internal/launch"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/registrytest"
	"github.com/ckubelet/ckubelet/internal/report"
	"github.com/ckubelet/ckubelet/internal/testenv"
	"github.com/ckubelet/ckubelet/internal/testimages"
)

// Knobs of the conformance run, for CI's subset and for debugging.
const (
	focusEnv  = "CKUBELET_CONFORMANCE_FOCUS"  // replaces the focus (a ginkgo regexp)
	subsetEnv = "CKUBELET_CONFORMANCE_SUBSET" // "ci": CI's named subset (selection_test.go)
	procsEnv  = "CKUBELET_CONFORMANCE_PROCS"  // parallel ginkgo processes, default defaultProcs
	modesEnv  = "CKUBELET_CONFORMANCE_MODES"  // "join,run" by default
)

// registryAddr is where Debian's docker-registry serves the test images in the sandbox: on
// loopback, which containerd pulls from over plain HTTP without configuration. Not :5000, where
// the [Serial] private-registry specs would start their own.
const registryAddr = "127.0.0.1:5001"

// defaultProcs is how many specs run at once. They mostly wait (the probe specs watch a pod
// for up to four minutes): measured with 4 processes, the node's two cores were idle most of
// the time and the CI subset took 16 minutes, as long as its specs' run times over 4.
const defaultProcs = 12

// conformanceNodeTimeout bounds the node stage: two full runs of the suite on 2 cores.
const conformanceNodeTimeout = 4 * time.Hour

func TestConformance(t *testing.T) {
	if os.Getenv(stageEnv) == "node" {
		conformanceNodeStage(t)
		return
	}
	testenv.LookPath(t, "docker-registry")
	hostStage(t, conformanceNodeTimeout, buildConformance)
}

// buildConformance builds e2e.test, ginkgo and the test images.
func buildConformance(t *testing.T, s *state) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	began := time.Now()
	named, err := b.build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range named {
		named[i].Image.Repository = registryAddr + "/" + testimages.Repository + "/" + named[i].Image.Repository
	}
	c := &conformanceState{TestImagesArchive: s.path("test-images.tar"), ReportDir: filepath.Join(repoRoot(), "out", "conformance"),
		Focus: focus, Procs: defaultProcs, Modes: []string{"join", "run"}}
	if err := output.Write(ctx, output.Target{Kind: output.DockerArchive, Dest: c.TestImagesArchive}, named); err != nil {
		t.Fatal(err)
	}
	t.Logf("%-55s %6.1fs", "test images", time.Since(began).Seconds())
	began = time.Now()
	su, err := buildSuite(ctx, b.gocmd, cacheDir(), b.k8s, b.platform, c.ReportDir)
	if err != nil {
		t.Fatal(err)
	}
	c.E2ETest, c.Ginkgo = su.e2eTest, su.ginkgo
	t.Logf("%-55s %6.1fs", "e2e.test and ginkgo "+su.ginkgoVersion, time.Since(began).Seconds())
	switch sub := os.Getenv(subsetEnv); sub {
	case "":
	case "ci":
		c.Focus = ciFocus()
	default:
		t.Fatalf("%s=%q: the only subset is ci", subsetEnv, sub)
	}
	if f := os.Getenv(focusEnv); f != "" {
		c.Focus = f
	}
	if p := os.Getenv(procsEnv); p != "" {
		if c.Procs, err = strconv.Atoi(p); err != nil || c.Procs < 1 {
			t.Fatalf("%s=%q: want a number of processes", procsEnv, p)
		}
	}
	if m := os.Getenv(modesEnv); m != "" {
		c.Modes = strings.Split(m, ",")
	}
	s.Conformance = c
}

// conformanceNodeStage runs in the sandbox: the registry, the cluster, and the suite once per mode.
func conformanceNodeStage(t *testing.T) {
	s, err := readState()
	if err != nil {
		t.Fatal(err)
	}
	c := s.Conformance
	t.Cleanup(func() { reportSandboxLeftovers(t) })
	cd := startContainerd(t, s)
	cd.importImages(t, s.ImagesArchive)
	registrytest.Start(t, registrytest.Options{Addr: registryAddr})
	pushed := pushTestImages(t, s)
	t.Logf("pushed to %s: %s", registryAddr, strings.Join(pushed, ", "))
	repoList := s.path("repo-list.yaml")
	if err := os.WriteFile(repoList, []byte(repoListYAML), 0o644); err != nil {
		t.Fatal(err)
	}

	cp := startControlPlane(t, s)
	tok := bootstrapCluster(t, cp, s)
	t.Cleanup(func() { removePodSandboxes(t, s) })
	for i, mode := range c.Modes {
		var node *kubeletNode
		readyAt, stopWatch := watchNodeReady(cp)
		switch mode {
		case "join":
			// /tmp: the hostPath subPath spec mounts a subdirectory of /tmp that kubelet creates.
			node = joinNode(t, s, cd, tok, cp.pki.CAHash, launch.Mount{Source: "/tmp", Destination: "/tmp", Propagation: launch.RShared})
		case "run":
			node = runNode(t, s, cp, tok)
		default:
			t.Fatalf("%s: unknown mode %q (want join or run)", modesEnv, mode)
		}
		ready := waitNodeReady(t, cp, node, readyAt)
		stopWatch()
		fmt.Printf("node %s Ready after %.1fs (%s)\n", nodeName, ready.Seconds(), modeName(mode))
		// drainNode takes kube-proxy away with the other pods, so each node gets it anew.
		proxy := deployKubeProxy(t, cp.client, s.KubeProxy, "iptables")
		waitFor(t, "kube-proxy Ready", 2*time.Minute, func() error { return podReady(cp, "kube-system", proxy) })
		res := runSuite(t, s, mode, repoList)
		for _, f := range res.Flaked {
			fmt.Printf("conformance (%s): flaked, passed at its second attempt: %s\n", modeName(mode), f)
		}
		for _, sk := range res.Skips {
			fmt.Printf("conformance (%s): skipped: %s: %s\n", modeName(mode), sk.Name, sk.Message)
		}
		for _, f := range res.Failures {
			t.Errorf("%s: failed: %s: %s", modeName(mode), f.Name, f.Message)
		}
		if res.Selected == 0 || res.Passed == 0 {
			t.Errorf("%s: the focus %q selected %d specs and %d passed: a run that checks nothing proves nothing", modeName(mode), c.Focus, res.Selected, res.Passed)
		}
		drainNode(t, cp)
		if i < len(c.Modes)-1 {
			resetNode(t, s, cp, node)
		}
		fmt.Printf("conformance (%s): %d flaked\n", modeName(mode), len(res.Flaked))
		fmt.Printf("conformance: %d passed, %d failed, %d skipped of %d specs in %s\n", res.Passed, res.Failed, res.Skipped, res.Selected, res.Wall.Round(time.Second))
	}
}

func modeName(mode string) string {
	if mode == "join" {
		return "ckubelet join"
	}
	return "ckubelet run"
}

// repoListYAML sends every registry the selected specs use to the sandbox's registry (the keys
// of test/utils/image/manifest.go). invalidRegistry stays invalid: pull-failure specs want that.
const repoListYAML = `promoterE2eRegistry: ` + registryAddr + `/` + testimages.Repository + `
gcRegistry: ` + registryAddr + `
gcEtcdRegistry: ` + registryAddr + `
buildImageRegistry: ` + registryAddr + `/build-image
sigStorageRegistry: ` + registryAddr + `/sig-storage
dockerLibraryRegistry: ` + registryAddr + `/library
cloudProviderGcpRegistry: ` + registryAddr + `/cloud-provider-gcp
privateRegistry: ` + registryAddr + `/k8s-authenticated-test
`

// pushTestImages pushes the test images and ckubelet's pause image (gcRegistry's pause:3.10.2)
// to the sandbox's registry.
func pushTestImages(t *testing.T, s *state) []string {
	t.Helper()
	var pushed []string
	push := func(archive, from, to string) {
		tag, err := name.NewTag(from)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(archive, &tag)
		if err != nil {
			t.Fatalf("%s in %s: %v", from, archive, err)
		}
		dst, err := name.NewTag(to)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(dst, img); err != nil {
			t.Fatalf("pushing %s: %v", to, err)
		}
		pushed = append(pushed, to)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(s.Conformance.TestImagesArchive) })
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m {
		for _, ref := range d.RepoTags {
			push(s.Conformance.TestImagesArchive, ref, ref)
		}
	}
	push(s.ImagesArchive, "pause:3.10.2", registryAddr+"/pause:3.10.2")
	return pushed
}

// runSuite runs the selection with the ginkgo CLI, in parallel, with at most two attempts per
// spec, and writes its reports to ReportDir/MODE.
func runSuite(t *testing.T, s *state, mode, repoList string) report.ConformanceRun {
	t.Helper()
	c := s.Conformance
	dir := filepath.Join(c.ReportDir, mode)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	admin := s.path("pki", "admin.conf")
	args := []string{
		"--procs=" + strconv.Itoa(c.Procs), "--timeout=3h", "--flake-attempts=2", "--no-color", "--silence-skips",
		"--poll-progress-after=10m", "--poll-progress-interval=5m",
		"--focus=" + c.Focus, "--skip=" + skip,
		"--output-dir=" + dir, "--json-report=report.json", "--junit-report=junit.xml",
		c.E2ETest, "--",
		"--kubeconfig=" + admin, "--provider=skeleton", "--report-dir=" + dir, "--disable-log-dump",
		"--node-schedulable-timeout=5m", "--minStartupPods=0",
	}
	cmd := exec.Command(c.Ginkgo, args...)
	cmd.Env = append(os.Environ(), "KUBE_TEST_REPO_LIST="+repoList, "HOME="+s.Dir)
	cmd.Dir = s.Dir
	logPath := filepath.Join(dir, "ginkgo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64*1024), 8*1024*1024)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if l := sc.Text(); strings.HasPrefix(l, "Ran ") || strings.Contains(l, "[FAIL]") || strings.HasPrefix(l, "•") && strings.Contains(l, "[FLAKEY") {
				t.Log(l)
			}
		}
	}()
	began := time.Now()
	t.Logf("running %s (%d processes), reports in %s", strings.Join(append([]string{filepath.Base(c.Ginkgo)}, args...), " "), c.Procs, dir)
	runErr := cmd.Run()
	pw.Close()
	<-done
	res, err := report.ReadConformanceRun(dir, modeName(mode))
	if err != nil {
		t.Fatalf("ginkgo: %v (run: %v); its output is in %s", err, runErr, logPath)
	}
	t.Logf("ginkgo ran for %v", time.Since(began).Round(time.Second))
	if runErr != nil && res.Failed == 0 {
		t.Errorf("ginkgo failed without a failed spec: %v; see %s", runErr, logPath)
	}
	return res
}
