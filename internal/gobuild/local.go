package gobuild

import (
	"io/fs"
	"path/filepath"

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
	return wrap(cacheDir, m, gomod, "", env)
}
