// Package build runs the pipeline: resolve what to build (catalog), compile the Go components
// (gobuild) and pause (pause), cut the userland out of Debian packages (debian, rootfs), assemble
// images (oci) and write them (output). Each stage lives in its own package; this one only wires
// them together and reports progress.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/pause"
	"github.com/ckubelet/ckubelet/internal/progress"
	"github.com/ckubelet/ckubelet/internal/rootfs"
	"github.com/ckubelet/ckubelet/internal/upx"
)

// Options are the inputs of one build.
type Options struct {
	KubernetesVersion string // latest, supported, 1.37 or v1.37.2
	Selection         catalog.Selection
	Platforms         []catalog.Platform
	Output            output.Target
	Cgo               bool
	// UPX names the tools to pack (kubeadm, crictl, cni); each packed binary is run before it
	// is used.
	UPX         upx.Selection
	Compression oci.Compression
	Debian      debian.Source
	// Lock, when set, pins the Debian packages: a resolution that differs fails the build.
	Lock     *debian.Lock
	CacheDir string
	Verbose  io.Writer // the go command's output, when set
	Progress progress.Reporter
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
	Versions []catalog.Version
	Images   []output.Named // per version in catalog order: kubelet flavors, kube-proxy, pause
	Timings  []Timing
	Warnings []string // what the build did differently than asked, e.g. binaries shipped unpacked
}

// Image returns the built image with the given name, or nil.
func (r *Result) Image(ref string) *output.Named {
	for i := range r.Images {
		if r.Images[i].Image.Ref() == ref {
			return &r.Images[i]
		}
	}
	return nil
}

// Run builds the selected images for every platform and writes them to the output.
func Run(ctx context.Context, o Options) (*Result, error) {
	b, err := newBuilder(o)
	if err != nil {
		return nil, err
	}
	if err := b.preflight(ctx); err != nil {
		return nil, err
	}
	versions, err := step(b, "resolve Kubernetes version", func() ([]catalog.Version, string, error) {
		vs, err := b.resolveVersions(ctx, o.KubernetesVersion)
		return vs, fmt.Sprint(vs), err
	})
	if err != nil {
		return nil, err
	}
	var images imageSet
	for _, version := range versions {
		v, err := b.prepareVersion(ctx, version)
		if err != nil {
			return nil, err
		}
		for _, p := range o.Platforms {
			if err := v.buildPlatform(ctx, p, &images); err != nil {
				return nil, err
			}
		}
	}
	named, err := images.indexes()
	if err != nil {
		return nil, err
	}
	if _, err := step(b, "write "+o.Output.String(), func() (struct{}, string, error) {
		return struct{}{}, "", output.Write(ctx, o.Output, named)
	}); err != nil {
		return nil, err
	}
	return &Result{Versions: versions, Images: named, Timings: b.timings, Warnings: b.warnings}, nil
}

// resolveVersions resolves a comma list of --kubernetes-version values, each latest, supported,
// MAJOR.MINOR or vX.Y.Z, against the Go module proxy; duplicates are built once.
func (b *builder) resolveVersions(ctx context.Context, requested string) ([]catalog.Version, error) {
	available, err := b.gocmd.ListVersions(ctx, gobuild.KubernetesModule)
	if err != nil {
		return nil, err
	}
	var out []catalog.Version
	for _, part := range strings.Split(requested, ",") {
		vs, err := catalog.ResolveVersions(strings.TrimSpace(part), available)
		var notListed *catalog.NotListedError
		if errors.As(err, &notListed) {
			// Not in the proxy's list is not yet unknown: the proxy lists only some versions.
			if _, dlErr := b.gocmd.Download(ctx, gobuild.KubernetesModule, string(notListed.Version)); dlErr == nil {
				vs, err = []catalog.Version{notListed.Version}, nil
			}
		}
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// preflight checks, before anything is downloaded or compiled (kubelet takes minutes), what can
// fail for reasons outside the build: where the output goes, the go command's verification
// settings, and the Debian archive, whose packages are resolved for every platform now.
func (b *builder) preflight(ctx context.Context) error {
	o := b.opts
	if _, err := step(b, "check output "+o.Output.String(), func() (struct{}, string, error) {
		return struct{}{}, "", o.Output.Check(ctx, len(o.Platforms))
	}); err != nil {
		return err
	}
	if _, err := step(b, "check the go command's verification settings", func() (struct{}, string, error) {
		return struct{}{}, "", b.gocmd.CheckVerification(ctx)
	}); err != nil {
		return err
	}
	if len(o.Selection.Flavors) == 0 && !o.Selection.KubeProxy {
		return nil // pause has no userland
	}
	for _, p := range o.Platforms {
		if _, err := b.resolvePackages(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// The stages the steps call, as small interfaces: tests of the orchestrator replace them with
// fakes (see images_test.go).
type (
	// compiler compiles Go components: gobuild.Go.
	compiler interface {
		Build(ctx context.Context, cacheDir string, src *gobuild.Source, pkg string, t gobuild.Target) (gobuild.Binary, error)
	}
	// packer packs short-lived tools, each checked by running it: upx.Packer.
	packer interface {
		Pack(ctx context.Context, src string, p catalog.Platform, probe upx.Probe) (path string, packed bool, reason error)
	}
	// userlands cuts an image's userland for a platform out of Debian packages: debianUserlands.
	userlands interface {
		userland(ctx context.Context, p catalog.Platform, name string, spec rootfs.Spec, needs []string) (*Userland, error)
	}
	// pauseCompiler compiles pause.c of a Kubernetes tree: pause.Build.
	pauseCompiler func(ctx context.Context, k8sDir, cacheDir string, p catalog.Platform) (path string, cached bool, err error)
)

// builder holds what the steps of one build share.
type builder struct {
	opts      Options
	gocmd     *gobuild.Go
	compiler  compiler
	userlands userlands
	pause     pauseCompiler
	debian    *debian.Client
	packer    packer // nil without --upx
	progress  progress.Reporter
	timings   []Timing
	warnings  []string
	// resolved and userlandPackages cache, per Debian architecture, the resolved packages and
	// their extracted trees.
	resolved         map[string][]debian.Package
	userlandPackages map[string]*archPackages
}

func newBuilder(o Options) (*builder, error) {
	g := &gobuild.Go{Verbose: o.Verbose}
	b := &builder{opts: o, gocmd: g, compiler: g, pause: pause.Build, progress: o.Progress,
		resolved: map[string][]debian.Package{}, userlandPackages: map[string]*archPackages{}}
	b.userlands = debianUserlands{b}
	if b.progress == nil {
		b.progress = progress.Quiet{}
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	var err error
	if b.debian, err = debian.NewClient(o.Debian, filepath.Join(o.CacheDir, "debian")); err != nil {
		return nil, err
	}
	b.opts.Debian = b.debian.Source() // with defaults filled in
	if o.UPX.Any() {
		pk, err := upx.Find(o.CacheDir)
		if err != nil {
			return nil, err
		}
		b.packer = pk
	}
	return b, nil
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
		pkgs, err := b.resolvePackages(ctx, p)
		if err != nil {
			return nil, err
		}
		lock.Set(p.DebianArch(), pkgs)
	}
	return lock, nil
}

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
