// Package build runs the pipeline: resolve what to build (catalog), compile the Go components
// (gobuild), assemble images (oci) and write them (output). Each stage lives in its own package;
// this one only wires them together and reports progress.
package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/progress"
)

// Options are the inputs of one build.
type Options struct {
	KubernetesVersion string // latest, 1.37 or v1.37.2
	Platforms         []catalog.Platform
	Output            output.Target
	Cgo               bool
	Compression       oci.Compression
	CacheDir          string
	Verbose           io.Writer // the go command's output, when set
	Progress          *progress.Progress
}

// DefaultCacheDir is where builds keep compiled binaries, module files and layer blobs.
func DefaultCacheDir() string {
	if d := os.Getenv("CKUBELET_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ckubelet")
	}
	return filepath.Join(os.TempDir(), "ckubelet-cache")
}

// Result describes what a build wrote.
type Result struct {
	Version catalog.Version
	Images  []output.Named
	Timings []Timing
}

// Run builds the kubelet image for every requested platform and writes it to the output.
func Run(ctx context.Context, o Options) (*Result, error) {
	g := &gobuild.Go{Verbose: o.Verbose}
	prog := &steps{progress: o.Progress}
	if prog.progress == nil {
		prog.progress = progress.New(io.Discard)
	}

	version, err := step(prog, "resolve Kubernetes version", func() (catalog.Version, string, error) {
		available, err := g.ListVersions(ctx, gobuild.KubernetesModule)
		if err != nil {
			return "", "", err
		}
		v, err := catalog.ResolveVersion(o.KubernetesVersion, available)
		return v, string(v), err
	})
	if err != nil {
		return nil, err
	}

	src, err := step(prog, "download "+gobuild.KubernetesModule+"@"+string(version), func() (*gobuild.Source, string, error) {
		src, err := g.PrepareKubernetes(ctx, o.CacheDir, version)
		if err != nil {
			return nil, "", err
		}
		return src, "", g.Fetch(ctx, src, "./cmd/kubelet")
	})
	if err != nil {
		return nil, err
	}
	created, err := gobuild.BuildDate(src.Module)
	if err != nil {
		return nil, err
	}

	layers := &oci.Layers{CacheDir: o.CacheDir, Compression: o.Compression, Time: created}
	var images []v1.Image
	for _, p := range o.Platforms {
		kubelet, err := step(prog, "compile kubelet "+p.String(), func() (gobuild.Binary, string, error) {
			b, err := g.Build(ctx, o.CacheDir, src, "./cmd/kubelet", gobuild.Target{Platform: p, Cgo: o.Cgo})
			return b, cachedNote(b.Cached), err
		})
		if err != nil {
			return nil, err
		}
		img, err := step(prog, "assemble image "+p.String(), func() (v1.Image, string, error) {
			l, err := layers.Layer([]oci.Entry{oci.File("/usr/bin/kubelet", kubelet.Path, 0o755)})
			if err != nil {
				return nil, "", err
			}
			img, err := oci.Image(oci.ImageSpec{
				Platform:   p,
				Layers:     []oci.Layer{{Layer: l, CreatedBy: fmt.Sprintf("ckubelet: kubelet %s from %s@%s %s", version, src.Module.Path, src.Module.Version, src.Module.Sum)}},
				Entrypoint: catalog.KubeletEntrypoint,
				Env:        oci.DefaultEnv,
				Labels:     labels(version, src.Module),
				Created:    created,
			})
			return img, "", err
		})
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}

	idx, err := oci.Index(images, map[string]string{"org.opencontainers.image.version": string(version)})
	if err != nil {
		return nil, err
	}
	named := []output.Named{{Image: catalog.KubeletImage(version, "static"), Index: idx}}
	if _, err := step(prog, "write "+o.Output.String(), func() (struct{}, string, error) {
		return struct{}{}, "", output.Write(ctx, o.Output, named)
	}); err != nil {
		return nil, err
	}
	return &Result{Version: version, Images: named, Timings: prog.timings}, nil
}

// labels are the image's org.opencontainers.image.* labels: what it is and exactly which verified
// inputs it was made from.
func labels(v catalog.Version, k8s *gobuild.Module) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "kubelet",
		"org.opencontainers.image.description": "kubelet " + string(v) + ", built by ckubelet from the Go module proxy",
		"org.opencontainers.image.version":     string(v),
		"org.opencontainers.image.source":      "https://github.com/kubernetes/kubernetes",
		// Module zips carry no git commit; the checksum-database hash names the exact source tree.
		"org.opencontainers.image.revision": k8s.Path + "@" + k8s.Version + " " + k8s.Sum,
		KubernetesVersionLabel:              string(v),
	}
}

// KubernetesVersionLabel carries the Kubernetes version on every image.
const KubernetesVersionLabel = "dev.ckubelet.kubernetes.version"

func cachedNote(cached bool) string {
	if cached {
		return "cached"
	}
	return ""
}

// Timing is how long one step of a build took.
type Timing struct {
	Step     string
	Duration time.Duration
	Note     string
}

// steps shows each step on the terminal and records its duration.
type steps struct {
	progress *progress.Progress
	timings  []Timing
}

// step runs fn as one visible, timed step.
func step[T any](s *steps, name string, fn func() (T, string, error)) (T, error) {
	ps := s.progress.Start(name)
	start := time.Now()
	v, note, err := fn()
	if err != nil {
		ps.Fail(err)
		return v, err
	}
	ps.Done(note)
	s.timings = append(s.timings, Timing{Step: name, Duration: time.Since(start), Note: note})
	return v, nil
}
