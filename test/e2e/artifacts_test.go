//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/mod/modfile"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
)

// cacheEnv overrides the build cache. By default the e2e shares build.DefaultCacheDir() with
// `ckubelet build` (~/.cache/ckubelet, or $CKUBELET_CACHE): binaries are cached under a key of all
// their inputs, so sharing is safe, and a warm run compiles nothing.
const cacheEnv = "CKUBELET_E2E_CACHE"

// upxEnv replaces what the node's images pack with UPX (a --upx list); by default what `ckubelet
// build` packs, so that the node joins with the packed kubeadm it ships.
const upxEnv = "CKUBELET_E2E_UPX"

// podImage is the test workload's image name.
const podImage = "ckubelet.test/e2e-pod:v1"

//go:embed testdata/podprog/main.go
var podprogFS embed.FS

// controlPlaneCommands are the k8s.io/kubernetes commands the test runs as processes.
var controlPlaneCommands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// buildArtifacts builds everything the node stage runs: ckubelet's images (kubeadm-cni flavor,
// kube-proxy, pause) into one docker-archive, the control plane and etcd, and the workload image.
func buildArtifacts(t *testing.T, s *state) {
	t.Helper()
	// Stop compiling before go test's -timeout kills the test binary, which would leave the go
	// command's compilers running and say nothing useful.
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-90*time.Second))
		defer cancel()
	}
	cache := cacheDir()
	// The node runs this machine's platform (tested on linux/amd64).
	platform, err := catalog.ParsePlatform("linux/" + runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	timed := func(what string, fn func() error) {
		t.Helper()
		began := time.Now()
		if err := fn(); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%s: %v: go test's -timeout is too short for these builds (cold caches need about %v): run with -timeout 60m", what, err, coldRun)
			}
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%-55s %6.1fs", what, time.Since(began).Seconds())
	}

	timed("build.Run kubeadm-cni, kube-proxy, pause ("+platform.String()+")", func() error { return buildImages(ctx, t, s, cache, platform) })
	if s.KubeletImage == "" || s.KubeProxy == "" || s.Pause == "" {
		t.Fatalf("want a kubelet, a kube-proxy and a pause image, got %q, %q, %q", s.KubeletImage, s.KubeProxy, s.Pause)
	}

	g := &gobuild.Go{}
	var k8s *gobuild.Source
	for _, cmd := range controlPlaneCommands {
		timed("compile "+cmd, func() error {
			// Prepared again before each build: an uncached `go build -mod=mod` rewrites the
			// go.mod the cache key hashes (the staging modules' v0.0.0 requirements become
			// v0.37.2), so without this a binary built after another one would be keyed on the
			// rewritten file in one run and on the fresh one in the next, and compile again.
			if k8s, err = g.PrepareKubernetes(ctx, cache, catalog.Version(testVersion)); err != nil {
				return err
			}
			bin, err := g.Build(ctx, cache, k8s, "./cmd/"+cmd, gobuild.Target{Platform: platform})
			s.Bin[cmd] = bin.Path
			return err
		})
	}
	timed("compile etcd", func() error {
		s.Bin["etcd"], err = buildEtcd(ctx, g, cache, k8s, platform)
		return err
	})
	timed("build the workload image", func() error { return buildPodImage(ctx, g, cache, s, platform) })
}

// containerdName is the name ctr gives an image it imports from a docker-archive: the
// normalized reference ("pause:3.10.2" → "docker.io/library/pause:3.10.2").
func containerdName(ref string) (string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// etcdModule is etcd's server module: its root package is the etcd command.
const etcdModule = "go.etcd.io/etcd/server/v3"

// buildEtcd compiles the etcd release the Kubernetes version requires, from the Go module proxy,
// with the component builder. Its go.mod replaces etcd's sibling modules with ../ paths, which a
// module zip does not hold: those replaces are dropped, so the published versions it requires
// are used.
func buildEtcd(ctx context.Context, g *gobuild.Go, cache string, k8s *gobuild.Source, p catalog.Platform) (string, error) {
	b, err := os.ReadFile(k8s.ModFile)
	if err != nil {
		return "", err
	}
	mf, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		return "", err
	}
	version := ""
	for _, r := range mf.Require {
		if r.Mod.Path == etcdModule {
			version = r.Mod.Version
		}
	}
	if version == "" {
		return "", fmt.Errorf("%s@%s does not require %s", gobuild.KubernetesModule, testVersion, etcdModule)
	}
	src, err := g.PrepareModule(ctx, cache, etcdModule, version, func(gomod []byte) ([]byte, error) {
		f, err := modfile.Parse("go.mod", gomod, nil)
		if err != nil {
			return nil, err
		}
		for _, r := range f.Replace {
			if strings.HasPrefix(r.New.Path, "../") || strings.HasPrefix(r.New.Path, "./") {
				if err := f.DropReplace(r.Old.Path, r.Old.Version); err != nil {
					return nil, err
				}
			}
		}
		f.Cleanup()
		return f.Format()
	})
	if err != nil {
		return "", err
	}
	bin, err := g.Build(ctx, cache, src, ".", gobuild.Target{Platform: p})
	return bin.Path, err
}

// buildPodImage compiles testdata/podprog statically and wraps it in a one-layer image, written
// as a docker-archive named podImage.
func buildPodImage(ctx context.Context, g *gobuild.Go, cache string, s *state, p catalog.Platform) error {
	sub, err := fs.Sub(podprogFS, "testdata/podprog")
	if err != nil {
		return err
	}
	src, err := gobuild.LocalSource(sub, "ckubelet.test/podprog", cache)
	if err != nil {
		return err
	}
	bin, err := g.Build(ctx, cache, src, ".", gobuild.Target{Platform: p})
	if err != nil {
		return err
	}
	epoch := time.Unix(0, 0).UTC()
	layers := &oci.Layers{CacheDir: cache, Compression: oci.Gzip, Time: epoch}
	l, err := layers.Layer([]oci.Entry{oci.File("/podprog", bin.Path, 0o755)})
	if err != nil {
		return err
	}
	img, err := oci.Image(oci.ImageSpec{
		Platform:   p,
		Layers:     []oci.Layer{{Layer: l, CreatedBy: "e2e workload"}},
		Entrypoint: []string{"/podprog"},
		Created:    epoch,
	})
	if err != nil {
		return err
	}
	ref, err := name.NewTag(podImage)
	if err != nil {
		return err
	}
	s.PodArchive, s.PodImage = s.path("pod.tar"), podImage
	return tarball.WriteToFile(s.PodArchive, ref, img)
}
