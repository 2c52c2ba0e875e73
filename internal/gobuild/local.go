package gobuild

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ckubelet/ckubelet/internal/version"
)

// LocalSource turns an embedded, dependency-free main package into a buildable component: a
// module modPath at ckubelet's version, served by a module proxy of its own in the cache (see
// localModule) and built through the wrapper module like any downloaded component, so that the
// binary's build info names it at ckubelet's version.
func LocalSource(fsys fs.FS, modPath, cacheDir string) (*Source, error) {
	names, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	gomod := []byte("module " + modPath + "\n\ngo 1.24\n")
	files := map[string][]byte{"go.mod": gomod}
	for _, n := range names {
		if files[n], err = fs.ReadFile(fsys, n); err != nil {
			return nil, err
		}
	}
	m, proxy, err := localModule(cacheDir, modPath, version.Version, files)
	if err != nil {
		return nil, err
	}
	// The go command unpacks the module into a module cache of its own, keyed by its content:
	// a changed helper at the same ckubelet version must not meet the old one's files.
	modCache := filepath.Join(cacheDir, "modcache", filepath.Base(proxy))
	env := []string{"GOPROXY=file://" + proxy, "GOMODCACHE=" + modCache}
	return wrap(cacheDir, m, gomod, nil, env)
}

// SelfSource is ckubelet itself as a buildable component: its embedded source (the module root's
// Source) published as module modPath at ckubelet's version by a proxy of its own, in front of
// the Go module proxy that serves its dependencies, which its own go.sum pins. Tests and test
// data are left out: building needs neither.
func (g *Go) SelfSource(ctx context.Context, fsys fs.FS, modPath, cacheDir string) (*Source, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return fs.SkipDir
		case d.IsDir() || strings.HasSuffix(p, "_test.go"):
			return nil
		}
		files[p], err = fs.ReadFile(fsys, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The version names the source's content, so that the module cache, which the dependencies
	// share with every other build, never holds two different sources under one version.
	m, proxy, err := localModule(cacheDir, modPath, sourceVersion(version.Version, files), files)
	if err != nil {
		return nil, err
	}
	upstream, err := g.run(ctx, os.TempDir(), moduleEnv[:2], "env", "GOPROXY")
	if err != nil {
		return nil, err
	}
	// Its own go.sum verifies every dependency the Go module proxy serves; the wrapper's go.sum
	// holds its module's hash, so the checksum database is never asked about it.
	env := []string{"GOPROXY=file://" + proxy + "," + strings.TrimSpace(string(upstream))}
	return wrap(cacheDir, m, files["go.mod"], files["go.sum"], env)
}

// sourceVersion is version with a pre-release part naming the files' content:
// v0.2.0-dev -> v0.2.0-dev.src-1a2b3c4d5e6f, v0.2.0 -> v0.2.0-src-1a2b3c4d5e6f.
func sourceVersion(version string, files map[string][]byte) string {
	sep := "-"
	if strings.Contains(version, "-") {
		sep = "."
	}
	return version + sep + "src-" + contentHash(files)[:12]
}
