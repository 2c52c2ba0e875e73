//go:build integration

package gobuild

import (
	"context"
	"debug/buildinfo"
	"os/exec"
	"strings"
	"testing"

	ckubelet "github.com/ckubelet/ckubelet"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/version"
)

// TestSelfSourceCrossCompiles builds ckubelet from its embedded source for another platform, as
// node bundles do, and runs it there under qemu-user.
func TestSelfSourceCrossCompiles(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	g := &Go{}
	src, err := g.SelfSource(ctx, ckubelet.Source, ckubelet.Module, cache)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := catalog.ParsePlatform("linux/arm64")
	bin, err := g.Build(ctx, cache, src, "./cmd/ckubelet", Target{Platform: p})
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(bin.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bi.Main.Version, version.Version+".src-") && !strings.HasPrefix(bi.Main.Version, version.Version+"-src-") || bi.Main.Path != ckubelet.Module {
		t.Errorf("build info names %s %s, want %s at %s with its source hash", bi.Main.Path, bi.Main.Version, ckubelet.Module, version.Version)
	}
	q, _ := p.Qemu()
	out, err := exec.Command(q, bin.Path, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ckubelet") {
		t.Errorf("ckubelet --help under %s: %v\n%s", q, err, out)
	}
	again, err := g.Build(ctx, cache, src, "./cmd/ckubelet", Target{Platform: p})
	if err != nil || !again.Cached {
		t.Errorf("second build: %+v %v, want it cached", again, err)
	}
}
