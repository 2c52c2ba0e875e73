package gobuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// LocalSource turns an embedded, dependency-free main package into a buildable module: its files
// are written into the cache under their content hash, with a go.mod naming the module.
func LocalSource(fsys fs.FS, module, cacheDir string) (*Source, error) {
	names, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	files := map[string][]byte{"go.mod": []byte("module " + module + "\n\ngo 1.24\n")}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", files["go.mod"])
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		files[n] = b
		fmt.Fprintf(h, "%s %d\n%s", n, len(b), b)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dir := filepath.Join(cacheDir, "src", module+"-"+sum[:16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for n, b := range files {
		if err := writeFileAtomic(filepath.Join(dir, n), b); err != nil {
			return nil, err
		}
	}
	return &Source{
		Module:  &Module{Path: module, Version: "(embedded)", Dir: dir, Sum: "sha256:" + sum},
		ModFile: filepath.Join(dir, "go.mod"),
	}, nil
}
