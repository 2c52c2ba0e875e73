// Package registrytest starts a real container registry for a test: Debian's docker-registry
// (the CNCF distribution registry, v2.8) on 127.0.0.1, with its storage in a temporary directory
// and, optionally, htpasswd authentication.
package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// Registry is a running registry.
type Registry struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	log  string
}

// Options configure Start.
type Options struct {
	// User and Password, when set, protect the registry with htpasswd (bcrypt) basic auth.
	User, Password string
	// Addr is where to listen; default a free port on 127.0.0.1.
	Addr string
}

// Start starts a registry for t, stopped by t.Cleanup.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin := testenv.LookPath(t, "docker-registry")
	dir := t.TempDir()
	if o.Addr == "" {
		o.Addr = freeAddr(t)
	}
	auth := ""
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: ckubelet-test\n    path: %s\n", htpasswd)
	}
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "storage"), o.Addr, auth)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Registry{Addr: o.Addr, log: filepath.Join(dir, "registry.log")}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 200 without auth, 401 with: either way it serves the API.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(r.log)
			t.Fatalf("docker-registry exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(r.log)
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", r.Addr, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr is a port on 127.0.0.1 nothing listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ClosedAddr is an address on 127.0.0.1 where nothing listens: an unreachable registry or
// mirror that fails at once.
func ClosedAddr(t testing.TB) string { return freeAddr(t) }
