package gobuild

import (
	"context"
	"debug/elf"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/wrappers"
)

// TestLocalSourceCrossCompiles builds the embedded CNI installer for every platform: it needs
// only the go command, no network.
func TestLocalSourceCrossCompiles(t *testing.T) {
	cache := t.TempDir()
	src, err := LocalSource(wrappers.CNIInstall(), wrappers.CNIInstallModule, cache)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LocalSource(wrappers.CNIInstall(), wrappers.CNIInstallModule, cache)
	if err != nil || again.Module.Sum != src.Module.Sum {
		t.Fatalf("same source hashed differently: %v %v", src.Module.Sum, again)
	}
	g := &Go{}
	for _, tc := range []struct {
		platform string
		machine  elf.Machine
	}{
		{"linux/amd64", elf.EM_X86_64},
		{"linux/arm64", elf.EM_AARCH64},
		{"linux/arm/v7", elf.EM_ARM},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			p, _ := catalog.ParsePlatform(tc.platform)
			b, err := g.Build(context.Background(), cache, src, ".", Target{Platform: p})
			if err != nil {
				t.Fatal(err)
			}
			if b.Name != "cni-install" || b.Cached {
				t.Fatalf("got %+v", b)
			}
			f, err := elf.Open(b.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Fatalf("built for %v, want %v", f.Machine, tc.machine)
			}
			if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
				t.Fatalf("not static: needs %v", libs)
			}
			if b2, err := g.Build(context.Background(), cache, src, ".", Target{Platform: p}); err != nil || !b2.Cached {
				t.Fatalf("rebuild not cached: %+v %v", b2, err)
			}
		})
	}
}
