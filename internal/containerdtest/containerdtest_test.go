//go:build integration

package containerdtest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// helloSource is the whole image: it greets, and on request fails, hangs or reports its
// capabilities.
const helloSource = `package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	fmt.Println(strings.TrimSpace("hello from ckubelet " + strings.Join(os.Args[1:], " ")))
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "fail":
		fmt.Fprintln(os.Stderr, "failing as asked")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Hour)
	case "caps":
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			panic(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "CapEff:") {
				fmt.Println(line)
			}
		}
	}
}
`

func TestImportAndRun(t *testing.T) {
	d := Start(t)
	img := helloImage(t)
	dir := t.TempDir()

	t.Run("docker-archive", func(t *testing.T) {
		archive := filepath.Join(dir, "hello-docker.tar")
		tag, err := name.NewTag("ckubelet.test/hello:v1")
		if err != nil {
			t.Fatal(err)
		}
		if err := tarball.WriteToFile(archive, tag, img); err != nil {
			t.Fatal(err)
		}
		refs := d.Import(t, archive)
		if want := []string{"ckubelet.test/hello:v1"}; !slices.Equal(refs, want) {
			t.Fatalf("Import = %q, want %q", refs, want)
		}

		out, err := d.Run(t, refs[0], "a", "b")
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, out)
		}
		if want := "hello from ckubelet a b\n"; out != want {
			t.Errorf("Run output = %q, want %q", out, want)
		}
	})

	t.Run("exit-code", func(t *testing.T) {
		out, err := d.Run(t, "ckubelet.test/hello:v1", "fail")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("Run fail = %v, want exit code 3\n%s", err, out)
		}
		if !strings.Contains(out, "failing as asked") {
			t.Errorf("stderr missing from output %q", out)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		out, err := d.RunWith(t, RunOptions{Timeout: 2 * time.Second}, "ckubelet.test/hello:v1", "sleep")
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("Run sleep = %v, want a timeout\n%s", err, out)
		}
		// The container must be gone, not left running behind the killed ctr.
		if ls, err := d.Ctr("containers", "list", "--quiet"); err != nil || strings.TrimSpace(ls) != "" {
			t.Errorf("containers left after timeout: %q, %v", ls, err)
		}
	})

	t.Run("entrypoint", func(t *testing.T) {
		out, err := d.RunWith(t, RunOptions{Entrypoint: []string{"/hello", "from", "entrypoint"}}, "ckubelet.test/hello:v1", "x")
		if want := "hello from ckubelet from entrypoint x\n"; err != nil || out != want {
			t.Errorf("Run = %q, %v; want %q", out, err, want)
		}
	})

	t.Run("privileged", func(t *testing.T) {
		const capSysAdmin = 21
		for _, privileged := range []bool{false, true} {
			out, err := d.RunWith(t, RunOptions{Privileged: privileged}, "ckubelet.test/hello:v1", "caps")
			if err != nil {
				t.Fatalf("Run privileged=%v: %v\n%s", privileged, err, out)
			}
			caps := capEff(t, out)
			t.Logf("privileged=%v: CapEff %016x", privileged, caps)
			if got := caps&(1<<capSysAdmin) != 0; got != privileged {
				t.Errorf("privileged=%v: CAP_SYS_ADMIN = %v (CapEff %x)", privileged, got, caps)
			}
		}
	})

	t.Run("oci-archive", func(t *testing.T) {
		// OCI media types, and the image named the way an oci-archive output names it.
		oci := mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.AppendImage(oci, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": "ckubelet.test/hello:oci",
		})); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(dir, "hello-oci.tar")
		tarDir(t, string(lp), archive)

		refs := d.Import(t, archive)
		if want := []string{"ckubelet.test/hello:oci"}; !slices.Equal(refs, want) {
			t.Fatalf("Import = %q, want %q", refs, want)
		}
		out, err := d.Run(t, refs[0])
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, out)
		}
		if want := "hello from ckubelet\n"; out != want {
			t.Errorf("Run output = %q, want %q", out, want)
		}
	})
}

// helloImage compiles helloSource statically for the host and wraps it in a one-layer image
// whose entrypoint is /hello.
func helloImage(t *testing.T) v1.Image {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(helloSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(src, "hello")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "main.go")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(exe)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(exe); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	// containerd unpacks only images for its platform, so the config must say which it is.
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = []string{"/hello"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tarDir writes the files under dir into a tar archive, names relative to dir.
func tarDir(t *testing.T, dir, archive string) {
	t.Helper()
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(rel)
		if e.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// capEff parses the "CapEff:\t000001ffffffffff" line the hello program prints.
func capEff(t *testing.T, out string) uint64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return caps
		}
	}
	t.Fatalf("no CapEff in output %q", out)
	return 0
}
