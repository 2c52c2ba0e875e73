// Package pause builds Kubernetes' pause binary (the sandbox container's PID 1) from the C source in
// the k8s.io/kubernetes module zip, so air-gapped nodes need not pull registry.k8s.io/pause.
// It reproduces build/pause/Makefile: `$(TRIPLE)-gcc -Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV)`
// then `$(TRIPLE)-strip`, with Debian's (cross) compilers instead of the kube-cross image.
package pause

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/cbuild"
)

// Platform is the platform a pause binary is built for.
type Platform = catalog.Platform

// Paths inside a Kubernetes source tree.
const (
	makefilePath = "build/pause/Makefile"
	sourcePath   = "build/pause/linux/pause.c"
)

var (
	// TAG ?= 3.10.2 (upstream uses ?= so `make TAG=…` can override; accept any assignment).
	tagLine = regexp.MustCompile(`(?m)^[ \t]*TAG[ \t]*[?:]?=[ \t]*(\S+)[ \t]*$`)
	// The tag ends up in a -D flag and an image tag: keep it to characters valid in both.
	validTag = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]*$`)
)

// Tag reads the pause image tag (e.g. "3.10.1") from build/pause/Makefile of a Kubernetes source tree.
func Tag(k8sDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(k8sDir, makefilePath))
	if err != nil {
		return "", fmt.Errorf("pause tag: %w", err)
	}
	m := tagLine.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("pause tag: no TAG assignment in %s", filepath.Join(k8sDir, makefilePath))
	}
	tag := string(m[1])
	if !validTag.MatchString(tag) {
		return "", fmt.Errorf("pause tag: malformed TAG %q in %s", tag, filepath.Join(k8sDir, makefilePath))
	}
	return tag, nil
}

// Version is the string `pause -v` prints after "pause.c ". Upstream's is v$(TAG)-$(REV), with
// REV the git revision pause happened to be built from; ours is v$(TAG) alone, so that every
// Kubernetes release with the same pause source gives the same pause binary and the one image
// pause:$(TAG) names (two would be refused when a build covers several Kubernetes versions).
func Version(k8sDir string) (string, error) {
	tag, err := Tag(k8sDir)
	if err != nil {
		return "", err
	}
	return "v" + tag, nil
}

// Build compiles pause.c as upstream does, static and stripped, for the platform (see
// internal/cbuild, which caches it). The returned path is in the cache: never modify it.
func Build(ctx context.Context, k8sDir, cacheDir string, platform Platform) (path string, cached bool, err error) {
	src, err := os.ReadFile(filepath.Join(k8sDir, sourcePath))
	if err != nil {
		return "", false, fmt.Errorf("pause: %w", err)
	}
	version, err := Version(k8sDir)
	if err != nil {
		return "", false, err
	}
	return cbuild.Build(ctx, cacheDir, platform, cbuild.Program{
		Name: "pause", Source: src, Static: true,
		// Upstream's CFLAGS, verbatim.
		Flags: []string{"-Os", "-Wall", "-Werror", "-DVERSION=" + version},
	})
}
