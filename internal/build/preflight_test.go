package build

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/debian/debtest"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/progress"
	"github.com/ckubelet/ckubelet/internal/registrytest"
	"github.com/ckubelet/ckubelet/internal/upx"
)

// steps records the names of the steps a build starts.
type steps struct {
	mu    sync.Mutex
	names []string
}

func (s *steps) Start(name string) progress.Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = append(s.names, name)
	return progress.Quiet{}.Start(name)
}

func (s *steps) Wait() {}

// TestFailFast checks that what can go wrong outside the build is reported, in one line that
// names it and what to do, before any Kubernetes version is resolved or anything compiled.
func TestFailFast(t *testing.T) {
	dir := t.TempDir()
	keyring := filepath.Join(dir, "keyring.gpg")
	debtest.WriteKeyring(t, keyring, false, debtest.NewKey(t, "test archive", nil))
	notADir := filepath.Join(dir, "file")
	os.WriteFile(notADir, nil, 0o644)
	closed := registrytest.ClosedAddr(t)
	amd64, arm64 := catalog.Supported[0], catalog.Supported[1]
	base := func() Options {
		sel, _ := catalog.ParseSelection("kubelet")
		return Options{
			KubernetesVersion: "v1.37.2", Selection: sel, Platforms: []catalog.Platform{amd64},
			Output:      output.Target{Kind: output.OCI, Dest: filepath.Join(dir, "out")},
			Compression: oci.Zstd, CacheDir: filepath.Join(dir, "cache"),
			Debian: debian.Source{Mirror: "http://" + closed + "/debian", Keyring: keyring},
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*Options)
		env    map[string]string
		want   string
	}{
		{"docker-archive with two platforms", func(o *Options) {
			o.Output, o.Platforms = output.Target{Kind: output.DockerArchive, Dest: filepath.Join(dir, "k.tar")}, []catalog.Platform{amd64, arm64}
		}, nil, "a docker archive holds one platform and 2 were asked for: pass one --platform"},
		{"unwritable output", func(o *Options) { o.Output.Dest = filepath.Join(notADir, "oci") }, nil,
			"is not a directory"},
		{"unreachable registry", func(o *Options) { o.Output = output.Target{Kind: output.Registry, Dest: closed + "/ckubelet"} }, nil,
			"registry " + closed + " does not answer"},
		{"checksum database off", nil, map[string]string{"GOSUMDB": "off"}, "GOSUMDB=off turns the checksum database off"},
		{"GOPROXY=direct", nil, map[string]string{"GOPROXY": "direct"}, "GOPROXY=direct fetches from version control servers"},
		{"unreachable Debian mirror", nil, nil, "check the network and --debian-mirror"},
		{"--upx without upx", func(o *Options) { o.UPX = upx.Selection{"crictl": true} }, map[string]string{"PATH": dir}, "no upx or upx-ucl command on PATH; install upx-ucl: run hack/setup.sh"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o := base()
			if tt.change != nil {
				tt.change(&o)
			}
			rec := &steps{}
			o.Progress = rec
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if slices.ContainsFunc(rec.names, func(n string) bool {
				return strings.HasPrefix(n, "resolve Kubernetes") || strings.HasPrefix(n, "compile") || strings.HasPrefix(n, "download")
			}) {
				t.Errorf("got past the checks: %q", rec.names)
			}
			if _, err := os.Stat(o.Output.Dest); err == nil && o.Output.Kind != output.Registry {
				t.Errorf("left %s behind", o.Output.Dest)
			}
		})
	}
}

// TestFailFastUnauthorizedRegistry pushes to a real registry that wants a password.
func TestFailFastUnauthorizedRegistry(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{User: "ckubelet", Password: "secret"})
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
	sel, _ := catalog.ParseSelection("pause")
	keyring := filepath.Join(t.TempDir(), "keyring.gpg")
	debtest.WriteKeyring(t, keyring, false, debtest.NewKey(t, "test archive", nil))
	rec := &steps{}
	_, err := Run(context.Background(), Options{
		KubernetesVersion: "v1.37.2", Selection: sel, Platforms: []catalog.Platform{catalog.Supported[0]},
		Output: output.Target{Kind: output.Registry, Dest: reg.Addr + "/ckubelet"}, Compression: oci.Zstd,
		CacheDir: t.TempDir(), Debian: debian.Source{Mirror: "http://127.0.0.1:1/debian", Keyring: keyring}, Progress: rec,
	})
	want := "the registry refuses to let these credentials push (401): log in with `docker login " + reg.Addr + "`"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if len(rec.names) != 1 {
		t.Errorf("steps after the registry check: %q", rec.names)
	}
}
