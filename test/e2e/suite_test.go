//go:build conformance

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
)

// ginkgoModule is the Ginkgo CLI's module; its version is the one Kubernetes' go.mod requires,
// so that the CLI and the library compiled into e2e.test agree.
const ginkgoModule = "github.com/onsi/ginkgo/v2"

// suite is upstream's e2e.test and the ginkgo CLI that runs it in parallel.
type suite struct {
	e2eTest, ginkgo string
	ginkgoVersion   string
}

// buildSuite compiles e2e.test (`go test -c` of k8s.io/kubernetes/test/e2e) and ginkgo from the
// Kubernetes source, through ckubelet's component builder and its cache, and copies e2e.test
// to outDir.
func buildSuite(ctx context.Context, g *gobuild.Go, cache string, k8s *gobuild.Source, p catalog.Platform, outDir string) (*suite, error) {
	t := gobuild.Target{Platform: p}
	e2e, err := g.BuildTest(ctx, cache, k8s, "./test/e2e", t)
	if err != nil {
		return nil, err
	}
	ginkgo, err := g.Build(ctx, cache, k8s, ginkgoModule+"/ginkgo", t)
	if err != nil {
		return nil, err
	}
	version, err := requiredVersion(k8s.ModFile, ginkgoModule)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	dst := filepath.Join(outDir, "e2e.test")
	if err := copyFile(e2e.Path, dst); err != nil {
		return nil, err
	}
	return &suite{e2eTest: dst, ginkgo: ginkgo.Path, ginkgoVersion: version}, nil
}

// requiredVersion is the version of module that the go.mod at path requires.
func requiredVersion(path, module string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		return "", err
	}
	for _, r := range f.Require {
		if r.Mod.Path == module {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s requires no %s", path, module)
}
