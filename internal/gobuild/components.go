package gobuild

import (
	"context"
	"os"
	"path/filepath"
	"slices"
)

// The modules the non-Kubernetes components come from.
const (
	CRIToolsModule   = "sigs.k8s.io/cri-tools"
	CNIPluginsModule = "github.com/containernetworking/plugins"
)

// PrepareCRITools prepares crictl's module, version-stamped as its Makefile does.
func (g *Go) PrepareCRITools(ctx context.Context, cacheDir, version string) (*Source, error) {
	src, err := g.PrepareModule(ctx, cacheDir, CRIToolsModule, version, nil)
	if err != nil {
		return nil, err
	}
	src.LDFlags = []string{"-X", CRIToolsModule + "/pkg/version.Version=" + version}
	return src, nil
}

// PrepareCNIPlugins prepares the reference CNI plugins' module, version-stamped as its build
// script does.
func (g *Go) PrepareCNIPlugins(ctx context.Context, cacheDir, version string) (*Source, error) {
	src, err := g.PrepareModule(ctx, cacheDir, CNIPluginsModule, version, nil)
	if err != nil {
		return nil, err
	}
	src.LDFlags = []string{"-X", CNIPluginsModule + "/pkg/utils/buildversion.BuildVersion=" + version}
	return src, nil
}

// CNIPlugins lists the Linux plugins of a CNI plugins source tree by name, with their package
// paths: every directory under plugins/{main,ipam,meta} (windows plugins excluded).
func CNIPlugins(src *Source) (map[string]string, error) {
	plugins := map[string]string{}
	for _, kind := range []string{"main", "ipam", "meta"} {
		des, err := os.ReadDir(filepath.Join(src.Module.Dir, "plugins", kind))
		if err != nil {
			return nil, err
		}
		for _, de := range des {
			if de.IsDir() && de.Name() != "windows" {
				plugins[de.Name()] = "./plugins/" + kind + "/" + de.Name()
			}
		}
	}
	return plugins, nil
}

// SortedNames returns a map's keys in order.
func SortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
