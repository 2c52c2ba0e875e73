package cachetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCorruptions(t *testing.T) {
	for _, tc := range []struct {
		c    Corruption
		want func(b []byte, err error) bool
	}{
		{Corruptions[0], func(b []byte, err error) bool { return err == nil && len(b) == 4 && !bytes.Equal(b, []byte("abcd")) }},
		{Corruptions[1], func(b []byte, err error) bool { return err == nil && string(b) == "ab" }},
		{Corruptions[2], func(b []byte, err error) bool { return os.IsNotExist(err) }},
	} {
		t.Run(tc.c.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ro")
			p := filepath.Join(dir, "f")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("abcd"), 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			tc.c.Corrupt(t, p)
			if b, err := os.ReadFile(p); !tc.want(b, err) {
				t.Errorf("after %s: %q, %v", tc.c.Name, b, err)
			}
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o444 {
				t.Errorf("mode changed to %v", fi.Mode())
			}
			if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o555 {
				t.Errorf("directory mode changed to %v", fi.Mode())
			}
		})
	}
}
