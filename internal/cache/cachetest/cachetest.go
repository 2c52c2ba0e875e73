// Package cachetest damages cached files the ways disks and interrupted writes do, for the tests
// of every stage that keeps a cache: each checks that its entries are verified and rebuilt.
package cachetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Corruption damages the file at path.
type Corruption struct {
	Name    string
	Corrupt func(t testing.TB, path string)
}

// Corruptions are the damages every cache must detect.
var Corruptions = []Corruption{
	{"byte flipped", FlipByte},
	{"truncated", Truncate},
	{"deleted", Delete},
}

// FlipByte inverts the middle byte of a non-empty file, keeping its size, mode and directory's
// mode: only the content says it changed.
func FlipByte(t testing.TB, path string) {
	t.Helper()
	writable(t, path, func() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("FlipByte: %s is empty", path)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(path, b, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// Truncate cuts a file to half its size, as an interrupted copy leaves it.
func Truncate(t testing.TB, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writable(t, path, func() {
		if err := os.Truncate(path, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	})
}

// Delete removes a file.
func Delete(t testing.TB, path string) {
	t.Helper()
	writable(t, path, func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	})
}

// writable runs fn with path and its directory writable by their owner, then restores their modes.
func writable(t testing.TB, path string, fn func()) {
	t.Helper()
	restore := func(p string) func() {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if err := os.Chmod(p, mode|0o200); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.Chmod(p, mode); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}
	defer restore(filepath.Dir(path))()
	defer restore(path)()
	fn()
}
