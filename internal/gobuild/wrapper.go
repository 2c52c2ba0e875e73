package gobuild

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// wrapperModule is the main module every component is built from. The component (kubelet's
// k8s.io/kubernetes, crictl's sigs.k8s.io/cri-tools, …) is its requirement at its real version,
// and a binary's build info names the module of its main package with that module's version and
// hash — `mod k8s.io/kubernetes v1.37.2 h1:…`, the hash the checksum database holds — so scanners
// and SBOMs match the component's advisories. Built as the main module itself, a module zip
// reports "(devel)": Go takes a main module's version only from version control, which module
// zips do not have, and -trimpath leaves -ldflags (with Kubernetes' version stamp) out of the
// build info. The wrapper itself appears nowhere in the binary.
const wrapperModule = "ckubelet-build"

// wrapperGoMod is the component's go.mod turned into the wrapper's: renamed, requiring the
// component at its version, with the component's requirements, replaces and go, toolchain and
// godebug lines, so that the build list and the compiled code stay exactly the component's.
func wrapperGoMod(component []byte, m *Module) ([]byte, error) {
	f, err := modfile.Parse("go.mod", component, nil)
	if err != nil {
		return nil, err
	}
	if err := f.AddModuleStmt(wrapperModule); err != nil {
		return nil, err
	}
	if err := f.AddRequire(m.Path, m.Version); err != nil {
		return nil, err
	}
	for _, r := range f.Replace {
		if isLocalPath(r.New.Path) {
			return nil, fmt.Errorf("replace %s => %s: a directory inside the module cannot be built from another module", r.Old.Path, r.New.Path)
		}
	}
	// Tools are the component's development tools, not part of what is built.
	for _, t := range f.Tool {
		if err := f.DropTool(t.Path); err != nil {
			return nil, err
		}
	}
	f.Cleanup()
	return f.Format()
}

func isLocalPath(p string) bool {
	return p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/")
}

// sumLines are the go.sum lines of a module, from the hashes the go command verified.
func sumLines(m *Module) string {
	return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", m.Path, m.Version, m.Sum, m.Path, m.Version, m.GoModSum)
}

// wrap makes the wrapper module of a component whose go.mod (rewritten) is gomod and whose
// verified go.sum is sum (nil for none).
func wrap(cacheDir string, m *Module, gomod, sum []byte, extraEnv []string) (*Source, error) {
	wgomod, err := wrapperGoMod(gomod, m)
	if err != nil {
		return nil, fmt.Errorf("%s@%s go.mod: %w", m.Path, m.Version, err)
	}
	files := map[string][]byte{"go.mod": wgomod, "go.sum": append(append([]byte{}, sum...), sumLines(m)...)}
	dir, modFile, seedSum, err := generatedFiles(cacheDir, wrapperModule+"-"+path.Base(m.Path)+"@"+m.Version, files)
	if err != nil {
		return nil, err
	}
	return &Source{Module: m, Dir: dir, ModFile: modFile, seedSum: seedSum, pkgPrefix: m.Path, extraEnv: extraEnv}, nil
}

// goproxyKind is the cache kind of the module proxies that serve ckubelet's own helpers.
const goproxyKind = "goproxy"

// proxyTime is the publication time the proxy of a local module reports: fixed, since it is
// part of no build output and must not make two proxies of the same module differ.
var proxyTime = time.Unix(0, 0).UTC()

// localModule publishes the files of an embedded module (go.mod among them) at path@version in
// a module proxy of its own in the cache (file:// GOPROXY layout) and returns the module with the
// hashes of its zip and go.mod, and the proxy's directory. The files never leave this machine;
// the go command verifies what it unpacks against these hashes like any go.sum line.
func localModule(cacheDir, modPath, version string, files map[string][]byte) (*Module, string, error) {
	mv := module.Version{Path: modPath, Version: version}
	var zipped bytes.Buffer
	var zfiles []modzip.File
	// Sorted, so the zip's bytes are the same for the same files.
	for _, name := range slices.Sorted(maps.Keys(files)) {
		zfiles = append(zfiles, memFile{name: name, data: files[name]})
	}
	if err := modzip.Create(&zipped, mv, zfiles); err != nil {
		return nil, "", fmt.Errorf("%s@%s: %w", modPath, version, err)
	}
	// The zip's hash as dirhash.HashZip computes it: its files under path@version/.
	zr, err := zip.NewReader(bytes.NewReader(zipped.Bytes()), int64(zipped.Len()))
	if err != nil {
		return nil, "", err
	}
	var names []string
	byName := map[string]*zip.File{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	h1, err := dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return byName[name].Open() })
	if err != nil {
		return nil, "", err
	}
	gomodH1, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files["go.mod"])), nil
	})
	if err != nil {
		return nil, "", err
	}
	escaped, err := module.EscapePath(modPath)
	if err != nil {
		return nil, "", err
	}
	key := strings.TrimPrefix(h1, "h1:")
	key = strings.NewReplacer("/", "_", "+", "-", "=", "").Replace(key)
	c := cache.Cache{Dir: cacheDir}
	dir, ok, err := c.Get(goproxyKind, key)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		info, _ := json.Marshal(struct {
			Version string
			Time    time.Time
		}{version, proxyTime})
		dir, err = c.Put(goproxyKind, key, func(dir string) error {
			v := filepath.Join(dir, filepath.FromSlash(escaped), "@v")
			if err := os.MkdirAll(v, 0o755); err != nil {
				return err
			}
			for name, data := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info, version + ".mod": files["go.mod"], version + ".zip": zipped.Bytes()} {
				if err := os.WriteFile(filepath.Join(v, name), data, 0o644); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, "", err
		}
	}
	return &Module{Path: modPath, Version: version, Sum: h1, GoModSum: gomodH1, Time: proxyTime.Format(time.RFC3339)}, dir, nil
}

// memFile is a file of an embedded module, for modzip.Create.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return path.Base(i.name) }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() os.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return proxyTime }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
