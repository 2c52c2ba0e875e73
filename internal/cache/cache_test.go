package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
)

// fillTree writes a small tree with every supported kind of file, read-only directory included.
func fillTree(dir string) error {
	return errors.Join(
		os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755),
		os.WriteFile(filepath.Join(dir, "usr", "bin", "tool"), []byte("#!/bin/sh\necho tool\n"), 0o755),
		os.Symlink("tool", filepath.Join(dir, "usr", "bin", "alias")),
		os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644),
		os.Mkdir(filepath.Join(dir, "ro"), 0o755),
		os.WriteFile(filepath.Join(dir, "ro", "data"), []byte("data"), 0o444),
		os.Chmod(filepath.Join(dir, "ro"), 0o555),
	)
}

// entries lists what a kind directory holds, hidden work directories included.
func entries(t *testing.T, c Cache, kind string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(c.Dir, Layout, kind))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func mustGet(t *testing.T, c Cache, kind, key string) (string, bool) {
	t.Helper()
	dir, ok, err := c.Get(kind, key)
	if err != nil {
		t.Fatal(err)
	}
	return dir, ok
}

func TestPutGet(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	if _, ok := mustGet(t, c, "tree", "k"); ok {
		t.Fatal("hit in an empty cache")
	}
	dir, err := c.Put("tree", "k", fillTree)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.Dir, "v1", "tree", "k", "content"); dir != want {
		t.Errorf("Put = %s, want %s", dir, want)
	}
	got, ok := mustGet(t, c, "tree", "k")
	if !ok || got != dir {
		t.Fatalf("Get = %s, %v; want %s", got, ok, dir)
	}
	if target, err := os.Readlink(filepath.Join(got, "usr", "bin", "alias")); err != nil || target != "tool" {
		t.Errorf("symlink: %q, %v", target, err)
	}
	m, err := os.ReadFile(filepath.Join(c.Dir, Layout, "tree", "k", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"path": "usr/bin/tool"`, `"mode": "0755"`, `"target": "tool"`, `"mode": "0555"`, `"sha256": "`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("manifest lacks %s:\n%s", want, m)
		}
	}
	if names := entries(t, c, "tree"); !slices.Equal(names, []string{"k"}) {
		t.Errorf("kind directory holds %v, want only the entry", names)
	}
}

// Every way an entry can go bad is detected, the entry removed, and a Put rebuilds it.
func TestCorruptEntryIsRemoved(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, entry, content string) error
	}{
		{"byte flipped", func(t *testing.T, _, content string) error {
			cachetest.FlipByte(t, filepath.Join(content, "usr", "bin", "tool"))
			return nil
		}},
		{"file truncated", func(_ *testing.T, _, content string) error {
			return os.Truncate(filepath.Join(content, "usr", "bin", "tool"), 3)
		}},
		{"empty file grown", func(_ *testing.T, _, content string) error {
			return os.WriteFile(filepath.Join(content, "empty"), []byte("x"), 0o644)
		}},
		{"file deleted", func(_ *testing.T, _, content string) error { return os.Remove(filepath.Join(content, "empty")) }},
		{"file added", func(_ *testing.T, _, content string) error {
			return os.WriteFile(filepath.Join(content, "usr", "stray"), nil, 0o644)
		}},
		{"mode changed", func(_ *testing.T, _, content string) error {
			return os.Chmod(filepath.Join(content, "usr", "bin", "tool"), 0o644)
		}},
		{"symlink retargeted", func(_ *testing.T, _, content string) error {
			link := filepath.Join(content, "usr", "bin", "alias")
			return errors.Join(os.Remove(link), os.Symlink("/bin/sh", link))
		}},
		{"file replaced by a symlink", func(_ *testing.T, _, content string) error {
			p := filepath.Join(content, "empty")
			return errors.Join(os.Remove(p), os.Symlink("usr", p))
		}},
		{"read-only file in read-only directory", func(t *testing.T, _, content string) error {
			cachetest.FlipByte(t, filepath.Join(content, "ro", "data"))
			return nil
		}},
		{"manifest deleted", func(_ *testing.T, entry, _ string) error { return os.Remove(filepath.Join(entry, "manifest.json")) }},
		{"manifest garbled", func(t *testing.T, entry, _ string) error {
			cachetest.FlipByte(t, filepath.Join(entry, "manifest.json"))
			return nil
		}},
		{"a plain file in its place", func(_ *testing.T, entry, _ string) error {
			return errors.Join(removeAll(entry), os.WriteFile(entry, []byte("old"), 0o444))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Cache{Dir: t.TempDir()}
			content, err := c.Put("tree", "k", fillTree)
			if err != nil {
				t.Fatal(err)
			}
			entry := filepath.Dir(content)
			if err := tc.corrupt(t, entry, content); err != nil {
				t.Fatal(err)
			}
			if _, ok := mustGet(t, c, "tree", "k"); ok {
				t.Fatal("corrupt entry accepted")
			}
			if names := entries(t, c, "tree"); len(names) != 0 {
				t.Errorf("corrupt entry not removed: kind directory holds %v", names)
			}
			if _, err := c.Put("tree", "k", fillTree); err != nil {
				t.Fatal(err)
			}
			if _, ok := mustGet(t, c, "tree", "k"); !ok {
				t.Fatal("rebuilt entry not found")
			}
		})
	}
}

// A Put that meets a corrupt entry where its own goes replaces it.
func TestPutReplacesCorruptEntry(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	content, err := c.Put("tree", "k", fillTree)
	if err != nil {
		t.Fatal(err)
	}
	cachetest.FlipByte(t, filepath.Join(content, "usr", "bin", "tool"))
	if _, err := c.Put("tree", "k", fillTree); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, c, "tree", "k"); !ok {
		t.Fatal("entry still corrupt")
	}
}

func TestPutFailureLeavesNothing(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	boom := errors.New("boom")
	_, err := c.Put("tree", "k", func(dir string) error {
		if err := fillTree(dir); err != nil {
			return err
		}
		return fmt.Errorf("filling: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Put = %v, want fill's error", err)
	}
	_, err = c.Put("tree", "fifo", func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "p"), 0o644) })
	if err == nil || !strings.Contains(err.Error(), "unsupported file type") {
		t.Errorf("Put of a FIFO = %v", err)
	}
	if names := entries(t, c, "tree"); len(names) != 0 {
		t.Errorf("failed Puts left %v", names)
	}
}

// Concurrent Puts of one key all end with the same, intact entry and leave nothing else.
func TestConcurrentPuts(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dirs[i], errs[i] = c.Put("tree", "k", fillTree) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("Put #%d = %s, %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	if _, ok := mustGet(t, c, "tree", "k"); !ok {
		t.Error("entry corrupt after concurrent Puts")
	}
	if names := entries(t, c, "tree"); !slices.Equal(names, []string{"k"}) {
		t.Errorf("kind directory holds %v, want only the entry", names)
	}
}

// The first entry published wins: a later Put of the same key keeps it.
func TestPutKeepsExistingEntry(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	write := func(s string) func(string) error {
		return func(dir string) error { return os.WriteFile(filepath.Join(dir, "f"), []byte(s), 0o644) }
	}
	if _, err := c.Put("file", "k", write("first")); err != nil {
		t.Fatal(err)
	}
	dir, err := c.Put("file", "k", write("second"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "first" {
		t.Errorf("entry holds %q, want the first Put's", b)
	}
}

func TestInvalidNames(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	for _, tc := range []struct{ kind, key string }{{"", "k"}, {"kind", ""}, {"a/b", "k"}, {"kind", "../k"}, {"kind", ".tmp-x"}, {"kind", "a\x00b"}} {
		if _, _, err := c.Get(tc.kind, tc.key); err == nil {
			t.Errorf("Get(%q, %q) accepted", tc.kind, tc.key)
		}
		if _, err := c.Put(tc.kind, tc.key, fillTree); err == nil {
			t.Errorf("Put(%q, %q) accepted", tc.kind, tc.key)
		}
	}
	if _, _, err := (Cache{}).Get("kind", "k"); err == nil {
		t.Error("Get without a directory accepted")
	}
}

// BenchmarkGet measures verification on entries like the real ones (see Get for the numbers).
func BenchmarkGet(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		return buf
	}
	for _, bc := range []struct {
		name  string
		files int
		size  int // bytes per file
	}{
		{"one 100 MB file", 1, 100 << 20},
		{"1400 files of 50 MB", 1400, 50 << 20 / 1400},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := Cache{Dir: b.TempDir()}
			data := random(bc.size)
			_, err := c.Put("kind", "k", func(dir string) error {
				for i := range bc.files {
					sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%40))
					if err := os.MkdirAll(sub, 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d", i)), data, 0o644); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(bc.files * bc.size))
			for b.Loop() {
				if _, ok, err := c.Get("kind", "k"); !ok || err != nil {
					b.Fatal("miss", err)
				}
			}
		})
	}
}
