package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// workingModFile writes gomod as dir/go.mod and, unless the go command keeps a go.sum there,
// copies seedSum ("" for none) beside it. It returns the go.mod's path.
//
// Our go.mod and go.sum are working files of the go command, in modfiles/<name>/ of the cache,
// not cache entries: with -mod=mod the go command adds to go.sum whatever it verifies against
// the checksum database, and may update go.mod. So they are kept verified differently:
//   - go.mod is written again from verified inputs (the module zip, generated sources) every time
//     a Source is prepared, so a damaged one never outlives a build;
//   - go.sum starts as the module's own, which the checksum database covers with the module zip.
//     The go command checks every line it relies on against the module it downloads or finds in
//     its module cache, and refuses a malformed or disagreeing go.sum instead of using a module.
//     Then runSource puts the verified seed back and runs the go command once more, which looks
//     up what is missing in the checksum database again: a damaged go.sum costs lookups, never
//     verification.
func workingModFile(dir string, gomod []byte, seedSum string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	modPath := filepath.Join(dir, "go.mod")
	if err := writeFileAtomic(modPath, gomod); err != nil {
		return "", err
	}
	sumPath := filepath.Join(dir, "go.sum")
	if _, err := os.Stat(sumPath); errors.Is(err, fs.ErrNotExist) {
		seed, err := readSeed(seedSum)
		if err != nil {
			return "", err
		}
		if err := writeFileAtomic(sumPath, seed); err != nil {
			return "", err
		}
	}
	return modPath, nil
}

// readSeed reads a seed go.sum; a module without dependencies has none.
func readSeed(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// runSource runs the go command on src's module, resetting go.sum and trying once more if the
// go command refuses it (see workingModFile). A module that disagrees with upstream's go.sum or
// the checksum database fails the second run as it did the first.
func (g *Go) runSource(ctx context.Context, src *Source, env []string, args ...string) ([]byte, error) {
	out, err := g.run(ctx, src.Dir, env, args...)
	if err == nil || !strings.Contains(err.Error(), "go.sum") {
		return out, err
	}
	if reset, rerr := src.resetSum(); rerr != nil || !reset {
		return out, err
	}
	return g.run(ctx, src.Dir, env, args...)
}

// resetSum puts the seed back as go.sum, reporting whether that changed it.
func (src *Source) resetSum() (bool, error) {
	sumPath := filepath.Join(filepath.Dir(src.ModFile), "go.sum")
	current, err := os.ReadFile(sumPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	seed, err := readSeed(src.seedSum)
	if err != nil || bytes.Equal(current, seed) {
		return false, err
	}
	return true, writeFileAtomic(sumPath, seed)
}

// srcKind is the cache kind of generated module sources: v1/src/<name>-<hash>/content/.
const srcKind = "src"

// generatedModule stores a module's generated files, go.mod included, in the cache under their
// content hash, and prepares our go.mod for it. seedSum is the verified go.sum to start from.
func generatedModule(cacheDir, name, version string, files map[string][]byte, seedSum string) (*Source, error) {
	dir, modFile, seed, err := generatedFiles(cacheDir, name, files)
	if err != nil {
		return nil, err
	}
	if seedSum == "" {
		seedSum = seed
	}
	return &Source{
		Module:  &Module{Path: name, Version: version, Dir: dir, Sum: "sha256:" + contentHash(files)},
		Dir:     dir,
		ModFile: modFile,
		seedSum: seedSum,
	}, nil
}

func contentHash(files map[string][]byte) string {
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s %d\n%s", n, len(files[n]), files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// generatedFiles stores files in the cache as the entry name-<content hash> and writes our
// go.mod for them; it returns the entry's directory, our go.mod, and the seed go.sum: the
// files' own go.sum if they have one, else "".
func generatedFiles(cacheDir, name string, files map[string][]byte) (dir, modFile, seedSum string, err error) {
	key := name + "-" + contentHash(files)[:16]
	c := cache.Cache{Dir: cacheDir}
	dir, ok, err := c.Get(srcKind, key)
	if err != nil {
		return "", "", "", err
	}
	if !ok {
		dir, err = c.Put(srcKind, key, func(dir string) error {
			for n, b := range files {
				p := filepath.Join(dir, filepath.FromSlash(n))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", "", "", err
		}
	}
	if _, ok := files["go.sum"]; ok {
		seedSum = filepath.Join(dir, "go.sum")
	}
	// The go command needs a go.mod in the module's directory to find its root, but reads ours.
	modFile, err = workingModFile(filepath.Join(cacheDir, "modfiles", key), files["go.mod"], seedSum)
	if err != nil {
		return "", "", "", err
	}
	return dir, modFile, seedSum, nil
}
