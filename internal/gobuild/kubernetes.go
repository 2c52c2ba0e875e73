package gobuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// KubernetesModule is the module holding kubelet, kubeadm, kube-proxy and the control plane.
const KubernetesModule = "k8s.io/kubernetes"

// Source is a Go component ready to build: a verified module (in the read-only module cache, or
// generated sources in ckubelet's cache), and the module the go command builds it from, in Dir
// with a go.mod of our own passed with -modfile. For a downloaded component that is the
// wrapper module (see wrapperModule); generated sources are built as the main module.
type Source struct {
	Module  *Module
	Dir     string // where the go command runs
	ModFile string // our go.mod, with the go command's go.sum beside it (see workingModFile)
	// pkgPrefix is the component's module path when it is built as a requirement of the wrapper:
	// Build's "./cmd/kubelet" is then k8s.io/kubernetes/cmd/kubelet.
	pkgPrefix string
	// extraEnv is environment the go command needs for this source (a local module proxy).
	extraEnv []string
	// seedSum is the verified go.sum ours starts from and is reset to, "" for none.
	seedSum string
	// LDFlags are added to every binary built from this source (version stamping).
	LDFlags []string
	// Tags are the build tags every binary of this source is built with.
	Tags []string
}

// PrepareKubernetes downloads k8s.io/kubernetes@v and writes a go.mod that builds it outside its
// git repository: the ./staging replaces point to the published k8s.io/* modules instead.
func (g *Go) PrepareKubernetes(ctx context.Context, cacheDir string, v catalog.Version) (*Source, error) {
	src, err := g.PrepareModule(ctx, cacheDir, KubernetesModule, string(v), func(gomod []byte) ([]byte, error) {
		return RewriteStagingReplaces(gomod, v.StagingVersion())
	})
	if err != nil {
		return nil, err
	}
	buildDate, err := BuildDate(src.Module)
	if err != nil {
		return nil, err
	}
	src.LDFlags = VersionLDFlags(v, buildDate)
	src.Tags = []string{"providerless"}
	return src, nil
}

// PrepareModule downloads path@version and prepares the wrapper module that builds it: its
// go.mod, rewritten by rewrite if given, renamed and requiring the component, with the
// component's go.sum and the component's own hashes.
func (g *Go) PrepareModule(ctx context.Context, cacheDir, path, version string, rewrite func([]byte) ([]byte, error)) (*Source, error) {
	m, err := g.Download(ctx, path, version)
	if err != nil {
		return nil, err
	}
	gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	if rewrite != nil {
		if gomod, err = rewrite(gomod); err != nil {
			return nil, fmt.Errorf("%s@%s go.mod: %w", m.Path, m.Version, err)
		}
	}
	sum, err := readSeed(filepath.Join(m.Dir, "go.sum"))
	if err != nil {
		return nil, err
	}
	return wrap(cacheDir, m, gomod, sum, nil)
}

// RewriteStagingReplaces replaces every `k8s.io/X => ./staging/src/k8s.io/X` with the published
// module k8s.io/X at stagingVersion. The staging directories are nested modules, which module zips
// leave out, so the local replaces cannot resolve.
func RewriteStagingReplaces(gomod []byte, stagingVersion string) ([]byte, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var staged []string
	for _, r := range f.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			staged = append(staged, r.Old.Path)
		}
	}
	if len(staged) == 0 {
		return nil, fmt.Errorf("no ./staging replaces found; not a Kubernetes release go.mod")
	}
	for _, p := range staged {
		if err := f.DropReplace(p, ""); err != nil {
			return nil, err
		}
		if err := f.AddReplace(p, "", p, stagingVersion); err != nil {
			return nil, err
		}
	}
	// The go command rewrites the placeholder v0.0.0 requires to the replacement's version on its
	// first -mod=mod build; doing it here keeps go.mod, and so the build cache key, stable.
	for _, r := range f.Require {
		if slices.Contains(staged, r.Mod.Path) {
			if err := f.AddRequire(r.Mod.Path, stagingVersion); err != nil {
				return nil, err
			}
		}
	}
	f.Cleanup()
	return f.Format()
}

// BuildDate is the date stamped into binaries: SOURCE_DATE_EPOCH when set (the reproducible-builds
// convention upstream honours too), else the release's publication time, so that it derives from the
// inputs and never from the clock.
func BuildDate(m *Module) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscanf(s, "%d", &sec); err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, m.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s@%s: no publication time from the module proxy: %w", m.Path, m.Version, err)
	}
	return t.UTC(), nil
}

// VersionLDFlags stamps the version the way upstream's hack/lib/version.sh does, into both
// k8s.io/client-go/pkg/version and k8s.io/component-base/version. gitCommit and gitTreeState are
// left out, as version.sh does when the commit is unknown: module zips carry no commit.
func VersionLDFlags(v catalog.Version, buildDate time.Time) []string {
	var flags []string
	add := func(key, val string) {
		for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
			flags = append(flags, "-X", pkg+"."+key+"="+val)
		}
	}
	add("buildDate", buildDate.UTC().Format("2006-01-02T15:04:05Z"))
	add("gitVersion", string(v))
	add("gitMajor", v.Major())
	add("gitMinor", v.Minor())
	return flags
}
