// Package build runs the pipeline: resolve what to build (catalog), compile the Go components
// (gobuild), cut the userland out of Debian packages (debian, rootfs), assemble images (oci) and
// write them (output). Each stage lives in its own package; this one only wires them together and
// reports progress.
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
	"github.com/ckubelet/ckubelet/internal/debian"
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
	Debian            debian.Source
	// Lock, when set, pins the Debian packages: a resolution that differs fails the build.
	Lock     *debian.Lock
	CacheDir string
	Verbose  io.Writer // the go command's output, when set
	Progress *progress.Progress
}

// DefaultCacheDir is where builds keep compiled binaries, module files, packages and layer blobs.
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
	// Userland holds, per platform, the Debian packages the userland was cut from.
	Userland map[catalog.Platform]*Userland
	Timings  []Timing
}

// Run builds the kubelet image for every requested platform and writes it to the output.
func Run(ctx context.Context, o Options) (*Result, error) {
	b, err := newBuilder(o)
	if err != nil {
		return nil, err
	}
	version, err := step(b, "resolve Kubernetes version", func() (catalog.Version, string, error) {
		available, err := b.gocmd.ListVersions(ctx, gobuild.KubernetesModule)
		if err != nil {
			return "", "", err
		}
		v, err := catalog.ResolveVersion(o.KubernetesVersion, available)
		return v, string(v), err
	})
	if err != nil {
		return nil, err
	}
	src, err := step(b, "download "+gobuild.KubernetesModule+"@"+string(version), func() (*gobuild.Source, string, error) {
		src, err := b.gocmd.PrepareKubernetes(ctx, o.CacheDir, version)
		if err != nil {
			return nil, "", err
		}
		return src, "", b.gocmd.Fetch(ctx, src, "./cmd/kubelet")
	})
	if err != nil {
		return nil, err
	}
	created, err := gobuild.BuildDate(src.Module)
	if err != nil {
		return nil, err
	}
	kubeletLayers := &oci.Layers{CacheDir: o.CacheDir, Compression: o.Compression, Time: created}

	res := &Result{Version: version, Userland: map[catalog.Platform]*Userland{}}
	name := catalog.KubeletImage(version, b.opts.Debian.Suite)
	var images []v1.Image
	var sboms []output.SBOM
	for _, p := range o.Platforms {
		kubelet, err := step(b, "compile kubelet "+p.String(), func() (gobuild.Binary, string, error) {
			bin, err := b.gocmd.Build(ctx, o.CacheDir, src, "./cmd/kubelet", gobuild.Target{Platform: p, Cgo: o.Cgo})
			return bin, cachedNote(bin.Cached), err
		})
		if err != nil {
			return nil, err
		}
		// A cgo kubelet links against glibc: its libraries must come with the userland.
		var needs []string
		if o.Cgo {
			needs = []string{kubelet.Path}
		}
		ul, err := b.userland(ctx, p, needs)
		if err != nil {
			return nil, err
		}
		res.Userland[p] = ul
		img, err := step(b, "assemble image "+p.String(), func() (v1.Image, string, error) {
			l, err := kubeletLayers.Layer([]oci.Entry{oci.File("/usr/bin/kubelet", kubelet.Path, 0o755)})
			if err != nil {
				return nil, "", err
			}
			img, err := oci.Image(oci.ImageSpec{
				Platform: p,
				// The userland changes least (it is shared across Kubernetes versions), so it goes first.
				Layers: []oci.Layer{
					ul.Layer,
					{Layer: l, CreatedBy: fmt.Sprintf("ckubelet: /usr/bin/kubelet %s from %s@%s %s", version, src.Module.Path, src.Module.Version, src.Module.Sum)},
				},
				Entrypoint: catalog.KubeletEntrypoint,
				Env:        oci.DefaultEnv,
				Labels:     labels(version, src.Module, b.opts.Debian.Suite),
				Created:    created,
			})
			return img, "", err
		})
		if err != nil {
			return nil, err
		}
		sb, err := imageSBOM(name, p, img, created, b.opts.Debian.Suite, ul, map[string]string{"/usr/bin/kubelet": kubelet.Path})
		if err != nil {
			return nil, err
		}
		images = append(images, img)
		sboms = append(sboms, sb)
	}

	idx, err := oci.Index(images, map[string]string{"org.opencontainers.image.version": string(version)})
	if err != nil {
		return nil, err
	}
	res.Images = []output.Named{{Image: name, Index: idx, SBOMs: sboms}}
	if _, err := step(b, "write "+o.Output.String(), func() (struct{}, string, error) {
		return struct{}{}, "", output.Write(ctx, o.Output, res.Images)
	}); err != nil {
		return nil, err
	}
	res.Timings = b.timings
	return res, nil
}

// builder holds what the steps of one build share.
type builder struct {
	opts     Options
	gocmd    *gobuild.Go
	debian   *debian.Client
	progress *progress.Progress
	timings  []Timing
}

func newBuilder(o Options) (*builder, error) {
	b := &builder{opts: o, gocmd: &gobuild.Go{Verbose: o.Verbose}, progress: o.Progress}
	if b.progress == nil {
		b.progress = progress.New(io.Discard)
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	var err error
	if b.debian, err = debian.NewClient(o.Debian, filepath.Join(o.CacheDir, "debian")); err != nil {
		return nil, err
	}
	b.opts.Debian = b.debian.Source() // with defaults filled in
	return b, nil
}

// labels are the image's org.opencontainers.image.* labels: what it is and exactly which verified
// inputs it was made from.
func labels(v catalog.Version, k8s *gobuild.Module, suite string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "kubelet",
		"org.opencontainers.image.description": "kubelet " + string(v) + " with a Debian " + suite + " userland, built by ckubelet",
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

// step runs fn as one visible, timed step.
func step[T any](b *builder, name string, fn func() (T, string, error)) (T, error) {
	ps := b.progress.Start(name)
	start := time.Now()
	v, note, err := fn()
	if err != nil {
		ps.Fail(err)
		return v, err
	}
	ps.Done(note)
	b.timings = append(b.timings, Timing{Step: name, Duration: time.Since(start), Note: note})
	return v, nil
}

// ResolveLock resolves the userland packages of every platform of o into a lock, the way a build
// would; nothing is downloaded but the indexes.
func ResolveLock(ctx context.Context, o Options) (*debian.Lock, error) {
	o.Lock = nil
	b, err := newBuilder(o)
	if err != nil {
		return nil, err
	}
	lock := debian.NewLock(b.opts.Debian.Suite)
	for _, p := range o.Platforms {
		pkgs, err := b.packages(ctx, p)
		if err != nil {
			return nil, err
		}
		lock.Set(p.DebianArch(), pkgs)
	}
	return lock, nil
}
