//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/upx"
)

func cacheDir() string {
	if d := os.Getenv(cacheEnv); d != "" {
		return d
	}
	return build.DefaultCacheDir()
}

// buildImages builds ckubelet's images the node runs — the kubeadm-cni flavor (kubeadm, crictl,
// the CNI plugins and their installer), kube-proxy and pause — for one platform with build.Run,
// into one docker-archive, and records the names containerd will give them.
func buildImages(ctx context.Context, t *testing.T, s *state, cache string, p catalog.Platform) error {
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		return err
	}
	sel, err := catalog.ParseSelection("kubeadm-cni,kube-proxy,pause")
	if err != nil {
		return err
	}
	s.ImagesArchive = s.path("images.tar")
	pack := upx.DefaultTools
	if v, ok := os.LookupEnv(upxEnv); ok {
		pack = v
	}
	packed, err := upx.ParseSelection(pack)
	if err != nil {
		return err
	}
	res, err := build.Run(ctx, build.Options{
		KubernetesVersion: testVersion,
		Selection:         sel,
		Platforms:         []catalog.Platform{p},
		Output:            output.Target{Kind: output.DockerArchive, Dest: s.ImagesArchive},
		UPX:               packed,
		Compression:       oci.Zstd, // the default, and what containerd must pull and unpack
		Debian:            debian.Source{Mirror: mirror},
		CacheDir:          cache,
	})
	if err != nil {
		return err
	}
	for _, tm := range res.Timings {
		t.Logf("  %-53s %6.1fs %s", tm.Step, tm.Duration.Seconds(), tm.Note)
	}
	for _, w := range res.Warnings {
		t.Logf("  build warning: %s", w)
	}
	for _, n := range res.Images {
		ref, err := containerdName(n.Image.Ref())
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(n.Image.Ref(), "kubelet:"):
			s.KubeletImage = ref
		case strings.HasPrefix(n.Image.Ref(), "kube-proxy:"):
			s.KubeProxy = ref
		case strings.HasPrefix(n.Image.Ref(), "pause:"):
			s.Pause = ref
		}
	}
	return nil
}
