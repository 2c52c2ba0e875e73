package gobuild

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
)

// MulticallName is the name of the binary CNIMulticall builds; each plugin is a link to it.
const MulticallName = "cni-plugins"

// CNIMulticall prepares one binary holding the named plugins of a CNI plugins source, which
// runs the plugin it is invoked as (argv[0], as busybox does) or the one named by its first
// argument. Separate plugin binaries each carry their own copy of the Go runtime, netlink and
// the CNI libraries: twenty of them weigh about five times what one binary holding all does.
//
// Upstream's plugins are main packages, which Go cannot import. So each plugin's package is
// copied into a generated module, its package clause renamed and its func main exported as Main;
// nothing else changes. The generated module requires the plugins module at its version (verified
// against the checksum database like any other) and the exact versions of its dependencies.
// Build it with pkg ".".
func CNIMulticall(plugins *Source, available map[string]string, names []string, cacheDir string) (*Source, error) {
	files := map[string][]byte{}
	gomod, err := multicallGoMod(plugins)
	if err != nil {
		return nil, err
	}
	files["go.mod"] = gomod
	var imports []multicallImport
	for _, name := range names {
		dir, ok := available[name]
		if !ok {
			return nil, fmt.Errorf("CNI plugin %s: not in %s@%s", name, plugins.Module.Path, plugins.Module.Version)
		}
		pkg := packageName(name)
		goFiles, err := exportedMain(filepath.Join(plugins.Module.Dir, dir), pkg)
		if err != nil {
			return nil, fmt.Errorf("CNI plugin %s of %s@%s: %w", name, plugins.Module.Path, plugins.Module.Version, err)
		}
		for file, src := range goFiles {
			files["plugins/"+name+"/"+file] = src
		}
		imports = append(imports, multicallImport{Name: name, Package: pkg})
	}
	files["main.go"] = dispatcher(imports)

	src, err := generatedModule(cacheDir, MulticallName, plugins.Module.Version, files, plugins.seedSum)
	if err != nil {
		return nil, err
	}
	src.LDFlags, src.Tags = plugins.LDFlags, plugins.Tags
	return src, nil
}

// multicallGoMod is the plugins module's go.mod, renamed, plus a requirement of the plugins module
// itself: the dependency versions stay exactly upstream's.
func multicallGoMod(plugins *Source) ([]byte, error) {
	b, err := os.ReadFile(plugins.ModFile)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		return nil, err
	}
	if err := f.AddModuleStmt(MulticallName); err != nil {
		return nil, err
	}
	if err := f.AddRequire(plugins.Module.Path, plugins.Module.Version); err != nil {
		return nil, err
	}
	f.Cleanup()
	return f.Format()
}

// packageName turns a plugin name ("host-local") into a Go package name ("hostlocal").
func packageName(plugin string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(plugin))
}

// exportedMain returns the non-test Go files of the main package in dir, renamed to package pkg
// with func main renamed Main. The edits are made at the parsed positions, so everything else,
// build constraints included, stays byte for byte.
func exportedMain(dir, pkg string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	foundMain := false
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, n, src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name != "main" {
			return nil, fmt.Errorf("%s: package %s, want main", n, f.Name.Name)
		}
		// Edits from the end, so earlier offsets stay valid.
		type edit struct {
			at  int
			old string
			new string
		}
		edits := []edit{{fset.Position(f.Name.Pos()).Offset, "main", pkg}}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
				edits = append(edits, edit{fset.Position(fn.Name.Pos()).Offset, "main", "Main"})
				foundMain = true
			}
		}
		slices.SortFunc(edits, func(a, b edit) int { return b.at - a.at })
		for _, ed := range edits {
			if !bytes.HasPrefix(src[ed.at:], []byte(ed.old)) {
				return nil, fmt.Errorf("%s: unexpected source at offset %d", n, ed.at)
			}
			src = slices.Concat(src[:ed.at], []byte(ed.new), src[ed.at+len(ed.old):])
		}
		out[n] = src
	}
	if !foundMain {
		return nil, fmt.Errorf("no func main in %s", dir)
	}
	return out, nil
}

type multicallImport struct{ Name, Package string }

// dispatcher is the multicall binary's main package.
func dispatcher(plugins []multicallImport) []byte {
	var b bytes.Buffer
	b.WriteString(`// Code generated by ckubelet (gobuild.CNIMulticall). DO NOT EDIT.

// Command cni-plugins runs the CNI plugin it is invoked as: install it once and link each
// plugin's name to it.
package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

`)
	for _, p := range plugins {
		fmt.Fprintf(&b, "\t%s %q\n", p.Package, MulticallName+"/plugins/"+p.Name)
	}
	b.WriteString(")\n\nvar plugins = map[string]func(){\n")
	for _, p := range plugins {
		fmt.Fprintf(&b, "\t%q: %s.Main,\n", p.Name, p.Package)
	}
	b.WriteString(`}

func main() {
	run, ok := plugins[filepath.Base(os.Args[0])]
	if !ok && len(os.Args) > 1 {
		// "cni-plugins NAME ARGS...": the plugin sees itself invoked as NAME.
		if run, ok = plugins[os.Args[1]]; ok {
			os.Args = os.Args[1:]
		}
	}
	if !ok {
		names := make([]string, 0, len(plugins))
		for n := range plugins {
			names = append(names, n)
		}
		sort.Strings(names)
		os.Stderr.WriteString("cni-plugins: invoke me through a link named after a plugin, or as cni-plugins PLUGIN: " + strings.Join(names, ", ") + "\n")
		os.Exit(2)
	}
	run()
}
`)
	return b.Bytes()
}
