//go:build conformance

// Package conformance runs upstream Kubernetes' [NodeConformance] specs against a node whose
// kubelet is a ckubelet image: upstream's e2e.test and ginkgo built from the Go module proxy at
// the node's version, every image the selected specs use rebuilt here and served by Debian's
// docker-registry, the cluster brought up as the e2e test does.
package conformance

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
)

// testVersion is the Kubernetes version of the node, the control plane and e2e.test, pinned as
// the e2e test pins its own.
const testVersion = "v1.37.2"

func cacheDir() string { return build.DefaultCacheDir() }

// newImageBuilder prepares the Debian index and the Kubernetes source the test images need.
func newImageBuilder(t *testing.T, ctx context.Context) *imageBuilder {
	t.Helper()
	p, err := catalog.ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := debian.NewClient(debian.Source{Mirror: mirror}, filepath.Join(cacheDir(), "debian"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := dc.Index(ctx, p.DebianArch())
	if err != nil {
		t.Fatal(err)
	}
	g := &gobuild.Go{}
	k8s, err := g.PrepareKubernetes(ctx, cacheDir(), testVersion)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(0, 0).UTC()
	return &imageBuilder{ctx: ctx, cacheDir: cacheDir(), platform: p, debian: dc, index: ix, k8s: k8s, gocmd: g,
		layers: &oci.Layers{CacheDir: cacheDir(), Compression: oci.Zstd, Time: created}, created: created}
}

// TestImages builds the test images and runs, in a real containerd, what the specs run in them.
func TestImages(t *testing.T) {
	ctx := context.Background()
	b := newImageBuilder(t, ctx)
	named, err := b.testImages()
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
		{"busybox:" + busyboxTag, containerdtest.RunOptions{}, []string{"sh", "-c", `[[ "x" == "x" ]] && echo ok; sysctl kernel.shm_rmid_forced; echo -n de | hexdump -C | head -1`}, "ok\nkernel.shm_rmid_forced = "},
		{"busybox:" + busyboxTag, containerdtest.RunOptions{CtrFlags: []string{"--read-only"}}, []string{"/bin/sh", "-c", "echo test > /file"}, "/bin/sh: can't create /file: Read-only file system"},
		{"nonroot:" + nonrootTag, containerdtest.RunOptions{Entrypoint: []string{}}, []string{"id", "-u"}, "1234"},
		{"agnhost:" + agnhostTag, containerdtest.RunOptions{}, []string{"entrypoint-tester", "a"}, "[/agnhost entrypoint-tester a]"},
		{"agnhost:" + agnhostTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/bash", "-c"}}, []string{"curl --version | head -1; echo hi | nc -u -w 1 127.0.0.1 9 ; ls /agnhost-2 /localhost.crt"}, "/agnhost-2\n/localhost.crt"},
		// ctr cannot set a user: the setuid bit, then nnp run as nobody through su.
		{"nonewprivs:" + nonewprivsTag, containerdtest.RunOptions{Entrypoint: []string{"/bin/sh", "-c"}, CtrFlags: []string{"--allow-new-privs"}}, []string{"stat -c %a /usr/local/bin/nnp; su -s /bin/sh nobody -c nnp"}, "4755\nEffective uid: 0"},
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
