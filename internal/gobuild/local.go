package gobuild

import (
	"io/fs"
)

// LocalSource turns an embedded, dependency-free main package into a buildable module: its files
// are stored in the cache under their content hash, with a go.mod naming the module.
func LocalSource(fsys fs.FS, module, cacheDir string) (*Source, error) {
	names, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"go.mod": []byte("module " + module + "\n\ngo 1.24\n")}
	for _, n := range names {
		if files[n], err = fs.ReadFile(fsys, n); err != nil {
			return nil, err
		}
	}
	return generatedModule(cacheDir, module, "(embedded)", files, "")
}
