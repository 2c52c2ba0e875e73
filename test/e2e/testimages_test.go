//go:build conformance

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/testimages"
)

// testImageSources are the Kubernetes source and go command the test images and the suite are
// built with.
type testImageSources struct {
	k8s      *gobuild.Source
	gocmd    *gobuild.Go
	platform catalog.Platform
	mirror   string
}

func (s testImageSources) build(ctx context.Context) ([]output.Named, error) {
	return testimages.Build(ctx, testimages.Options{CacheDir: cacheDir(), Platform: s.platform, Mirror: s.mirror, Kubernetes: s.k8s, Go: s.gocmd})
}

// newImageBuilder prepares the Kubernetes source the test images and the suite need.
func newImageBuilder(t *testing.T, ctx context.Context) testImageSources {
	t.Helper()
	p, err := catalog.ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	g := &gobuild.Go{}
	k8s, err := g.PrepareKubernetes(ctx, cacheDir(), testVersion)
	if err != nil {
		t.Fatal(err)
	}
	return testImageSources{k8s: k8s, gocmd: g, platform: p, mirror: mirror}
}

// TestConformanceImages builds the test images and runs, in a real containerd, what the specs
// run in them: a quick check before the suite's hour.
func TestConformanceImages(t *testing.T) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	named, err := b.build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "images.tar")
	if err := output.Write(ctx, output.Target{Kind: output.DockerArchive, Dest: archive}, named); err != nil {
		t.Fatal(err)
	}
	d := containerdtest.Start(t)
	d.Import(t, archive)
	ref := func(name string) string { return "docker.io/library/" + name }
	for _, tc := range []struct {
		image string
		opts  containerdtest.RunOptions
		args  []string
		want  string
	}{
		{"busybox:" + testimages.BusyboxTag, containerdtest.RunOptions{}, []string{"sh", "-c", `[[ "x" == "x" ]] && echo ok; sysctl kernel.shm_rmid_forced; echo -n de | hexdump -C | head -1`}, "ok\nkernel.shm_rmid_forced = "},
		{"busybox:" + testimages.BusyboxTag, containerdtest.RunOptions{CtrFlags: []string{"--read-only"}}, []string{"/bin/sh", "-c", "echo test > /file"}, "/bin/sh: can't create /file: Read-only file system"},
		// Variables whose names are not identifiers reach `sh -c env` (secret and ConfigMap keys).
		{"busybox:" + testimages.BusyboxTag, containerdtest.RunOptions{Env: []string{"data-1=value-1"}}, []string{"sh", "-c", "env"}, "data-1=value-1"},
		// sh runs netcat-openbsd's nc from PATH, not busybox's applet.
		{"agnhost:" + testimages.AgnhostTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/sh", "-c"}}, []string{"nc -h 2>&1 | head -1; echo hi | nc -u -w 1 127.0.0.1 9; echo rc=$?"}, "OpenBSD netcat"},
		{"nonroot:" + testimages.NonrootTag, containerdtest.RunOptions{Entrypoint: []string{}}, []string{"id", "-u"}, "1234"},
		{"agnhost:" + testimages.AgnhostTag, containerdtest.RunOptions{}, []string{"entrypoint-tester", "a"}, "[/agnhost entrypoint-tester a]"},
		{"agnhost:" + testimages.AgnhostTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/bash", "-c"}}, []string{"curl --version | head -1; echo hi | nc -u -w 1 127.0.0.1 9 ; ls /agnhost-2 /localhost.crt"}, "/agnhost-2\n/localhost.crt"},
		// ctr cannot set a user: the setuid bit, then nnp run as nobody through su.
		{"nonewprivs:" + testimages.NonewprivsTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/sh", "-c"}, CtrFlags: []string{"--allow-new-privs"}}, []string{"stat -c %a /usr/local/bin/nnp; su -s /bin/sh nobody -c nnp"}, "4755\nEffective uid: 0"},
	} {
		t.Run(tc.image+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			// Some commands fail on purpose (writing to a read-only root): the output decides.
			out, err := d.RunWith(t, tc.opts, ref(tc.image), tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Errorf("%v\n%s\nwant %q", err, out, tc.want)
			}
		})
	}
}

// TestSuiteBuilds builds e2e.test and ginkgo, counts the selection and CI's subset with a dry
// run, and checks that each container the subset names still holds selected specs.
func TestSuiteBuilds(t *testing.T) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	s, err := buildSuite(ctx, b.gocmd, cacheDir(), b.k8s, b.platform, filepath.Join(repoRoot(), "out", "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	dryRun := func(focus string) int {
		t.Helper()
		out, err := exec.Command(s.e2eTest, "--provider=skeleton", "--ginkgo.dry-run", "--ginkgo.focus="+focus, "--ginkgo.skip="+skip).CombinedOutput()
		m := ranLine.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("dry run of %s: %v\n%s", focus, err, lastLines(string(out), 5))
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	selected, subset := dryRun(focus), dryRun(ciFocus())
	t.Logf("ginkgo %s; the selection: %d specs, CI's subset: %d", s.ginkgoVersion, selected, subset)
	if subset == 0 || subset >= selected {
		t.Errorf("CI's subset has %d of the selection's %d specs", subset, selected)
	}
	for _, c := range ciSubset {
		if n := dryRun(`^` + c + `.*` + focus); n == 0 {
			t.Errorf("CI's subset names %s, which holds no selected spec any more", c)
		}
	}
}

// ranLine is ginkgo's summary of a run: "Ran 242 of 3206 Specs in 1.2 seconds".
var ranLine = regexp.MustCompile(`Ran (\d+) of \d+ Specs`)
