package testimages

import (
	"archive/tar"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// busybox is compiled from upstream's source as Debian ships it (the .orig.tar of the busybox
// source package, verified through the signed Sources index), with upstream's configuration,
// not taken from Debian's busybox-static. Debian's build differs from upstream's busybox image
// in two ways the specs notice: it reverts upstream's ash change that keeps environment
// variables whose names are not shell identifiers (the specs pass secret and ConfigMap keys
// such as "data-1" as variables and read them with `sh -c env`), and it enables
// FEATURE_SH_STANDALONE, so that sh runs its own applets before PATH (agnhost's specs need
// netcat-openbsd's `nc -u`, which busybox's nc lacks).
type busyboxBuild struct {
	b *imageBuilder
}

// busyboxConfig are the changes to upstream's defconfig: a static binary (the images carry no
// libc for it), without tc, which needs kernel headers newer ones dropped (CBQ).
var busyboxConfig = map[string]string{
	"CONFIG_STATIC": "y",
	"CONFIG_TC":     "",
}

// build returns the path of the compiled busybox, cached under its source and compiler.
func (bb busyboxBuild) build(ctx context.Context) (string, error) {
	src, version, err := bb.b.debian.SourceFile(ctx, "busybox", ".orig.tar.bz2")
	if err != nil {
		return "", fmt.Errorf("busybox source: %w", err)
	}
	ccVersion, err := exec.CommandContext(ctx, "gcc", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("gcc --version: %w (run hack/setup.sh)", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%v\n", filepath.Base(src), version, ccVersion, busyboxConfig)
	srcSum, err := fileSum(src)
	if err != nil {
		return "", err
	}
	h.Write([]byte(srcSum))
	key := hex.EncodeToString(h.Sum(nil))
	c := cache.Cache{Dir: bb.b.cacheDir}
	dir, ok, err := c.Get("busybox", key)
	if err != nil {
		return "", err
	}
	if !ok {
		dir, err = c.Put("busybox", key, func(out string) error { return compileBusybox(ctx, src, bb.b.cacheDir, out) })
		if err != nil {
			return "", fmt.Errorf("compiling busybox %s: %w", version, err)
		}
	}
	return filepath.Join(dir, "busybox"), nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compileBusybox unpacks the source, configures and compiles it, and puts the binary in out.
func compileBusybox(ctx context.Context, src, cacheDir, out string) error {
	work, err := os.MkdirTemp(cacheDir, ".busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	top, err := untarBzip2(src, work)
	if err != nil {
		return err
	}
	make := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "make", args...)
		cmd.Dir = top
		cmd.Env = append(os.Environ(), "KCONFIG_NOTIMESTAMP=1", "SOURCE_DATE_EPOCH=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 20 {
				lines = lines[len(lines)-20:]
			}
			return fmt.Errorf("make %s: %v\n%s", strings.Join(args, " "), err, strings.Join(lines, "\n"))
		}
		return nil
	}
	if err := make("defconfig"); err != nil {
		return err
	}
	cfgPath := filepath.Join(top, ".config")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		for k, v := range busyboxConfig {
			if strings.HasPrefix(l, k+"=") || l == "# "+k+" is not set" {
				if v == "" {
					lines[i] = "# " + k + " is not set"
				} else {
					lines[i] = k + "=" + v
				}
			}
		}
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		return err
	}
	if err := make("oldconfig"); err != nil {
		return err
	}
	if err := make("-j2", "busybox"); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(top, "busybox"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "busybox"), b, 0o755)
}

// untarBzip2 unpacks a source tarball into dir and returns its top directory. Entries must stay
// inside dir.
func untarBzip2(file, dir string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(bzip2.NewReader(f))
	top := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		name := filepath.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return "", fmt.Errorf("%s: entry %q outside the tree", file, h.Name)
		}
		if top == "" {
			top = strings.SplitN(name, string(filepath.Separator), 2)[0]
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o644)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(w, tr)
			w.Close()
			if err != nil {
				return "", err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return "", err
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(dir, top), nil
}
