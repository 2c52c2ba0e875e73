package output

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Check says, before anything is built, whether t can take images of the given number of
// platforms: a docker archive holds one, a file or directory output must be writable where it
// goes, and a registry must answer and let the keychain's credentials push.
func (t Target) Check(ctx context.Context, platforms int) error {
	switch t.Kind {
	case DockerArchive:
		if platforms > 1 {
			return fmt.Errorf("output %s: a docker archive holds one platform and %d were asked for: pass one --platform, or use oci:DIR or oci-archive:FILE", t, platforms)
		}
		return writable(t)
	case OCI, OCIArchive:
		return writable(t)
	case Registry:
		return checkRegistry(ctx, t)
	}
	return fmt.Errorf("unknown output kind %q", t.Kind)
}

// writable creates and removes a file where the output's temporary sibling will go: in its
// nearest existing parent, which is where the output's directories get created.
func writable(t Target) error {
	dir := filepath.Dir(filepath.Clean(t.Dest))
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("output %s: %s is not a directory", t, dir)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("output %s: %w", t, err)
		}
		dir = filepath.Dir(dir)
	}
	f, err := os.CreateTemp(dir, ".ckubelet-write-check-*")
	if err != nil {
		return fmt.Errorf("output %s: cannot write in %s: %w; choose another --output", t, dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// registryTransport gives up on a registry that does not accept a connection within seconds.
func registryTransport() http.RoundTripper {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	return tr
}

// checkRegistry starts (and cancels) a blob upload to the first repository the build pushes to,
// which is how a registry says whether these credentials may push.
func checkRegistry(ctx context.Context, t Target) error {
	repo, err := name.NewRepository(t.Dest + "/kubelet")
	if err != nil {
		return fmt.Errorf("output %s: %w", t, err)
	}
	ref := repo.Tag("ckubelet-push-check")
	done := make(chan error, 1)
	go func() { done <- remote.CheckPushPermission(ref, authn.DefaultKeychain, registryTransport()) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("output %s: the registry refuses to let these credentials push (%d): log in with `docker login %s` (ckubelet reads the docker config)", t, terr.StatusCode, repo.RegistryStr())
	}
	return fmt.Errorf("output %s: registry %s does not answer: %w; check the address and that the registry runs", t, repo.RegistryStr(), err)
}
