//go:build integration

package debian

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIntegrationTrixie uses the real archive named by the host's apt configuration, with a
// cold cache: index trixie for three architectures, resolve a kubelet's userland, lock it,
// and fetch and extract one package.
func TestIntegrationTrixie(t *testing.T) {
	mirror, err := HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	downloaded := map[string]int64{}
	cache := t.TempDir()
	c, err := NewClient(Source{Mirror: mirror}, cache, WithProgress(func(name string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		downloaded[name] = done
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	lock := NewLock("trixie")
	var arm64 []Package
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		start := time.Now()
		ix, err := c.Index(ctx, arch)
		if err != nil {
			t.Fatal(err)
		}
		indexTime := time.Since(start)
		name := "trixie/main/binary-" + arch + "/Packages.xz"
		mu.Lock()
		size := downloaded[name]
		mu.Unlock()
		t.Logf("%s: %s %.1f MB, %d packages, fetched, verified and parsed in %v", arch, name, float64(size)/1e6, ix.Len(), indexTime.Round(time.Millisecond))

		full, err := ix.Resolve([]string{"mount", "iptables", "e2fsprogs"})
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := ix.Resolve([]string{"mount", "iptables", "e2fsprogs"}, Exclude("debconf", "perl-base"))
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		var names []string
		for _, p := range pkgs {
			total += p.Size
			names = append(names, p.Name+"="+p.Version)
		}
		t.Logf("%s: %d packages in the full closure; %d without debconf and perl-base (%.1f MB of .debs): %s",
			arch, len(full), len(pkgs), float64(total)/1e6, strings.Join(names, " "))
		for _, want := range []string{"mount", "iptables", "e2fsprogs", "libc6"} {
			if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.Name == want }) {
				t.Errorf("%s: resolution lacks %s", arch, want)
			}
		}
		lock.Set(arch, pkgs)
		if err := lock.Check(arch, pkgs); err != nil {
			t.Error(err)
		}
		if arch == "arm64" {
			arm64 = pkgs
		}
	}

	// A later build: InRelease is fetched again, the Packages files come from the cache.
	warm, err := NewClient(Source{Mirror: mirror}, cache)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, arch := range []string{"amd64", "arm64", "armhf"} {
		if _, err := warm.Index(ctx, arch); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("indexing the three architectures again, from the cache: %v", time.Since(start).Round(time.Millisecond))

	var buf bytes.Buffer
	if err := lock.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLock(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	t.Logf("lock file: %d bytes for %d entries", buf.Len(), len(lock.Packages))

	i := slices.IndexFunc(arm64, func(p Package) bool { return p.Name == "mount" })
	start = time.Now()
	deb, err := c.Fetch(ctx, arm64[i])
	if err != nil {
		t.Fatal(err)
	}
	fetchTime := time.Since(start)
	root := filepath.Join(t.TempDir(), "rootfs")
	written, err := Extract(deb, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes fetched in %v, %d paths extracted", arm64[i], arm64[i].Size, fetchTime.Round(time.Millisecond), len(written))
	if fi, err := os.Stat(filepath.Join(root, "usr/bin/mount")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/mount: %v, %v (want mode 0755, setuid dropped)", fi, err)
	}
}
