package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// Defaults for the zero fields of a Source.
const (
	DefaultSuite   = "trixie"
	DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
)

// Source says where packages come from.
type Source struct {
	// Mirror is the archive's base URL, e.g. "http://HOST/debian". There is no default:
	// use HostMirror or a flag.
	Mirror     string
	Suite      string   // default DefaultSuite
	Components []string // default ["main"]
	// Keyring is an OpenPGP keyring, binary or armored, holding the keys that may sign the
	// suite's InRelease. Default DefaultKeyring.
	Keyring string
}

// ProgressFunc reports a download: name says what is downloaded, done counts the bytes
// received so far, total is the expected size or -1 if unknown. It is called when the
// download starts and as bytes arrive, possibly from several goroutines at once.
type ProgressFunc func(name string, done, total int64)

// Client fetches and verifies indexes and packages from one Source. It is safe for
// concurrent use.
type Client struct {
	src      Source
	mirror   *url.URL
	cache    cache.Cache
	keyring  openpgp.EntityList
	http     *http.Client
	progress ProgressFunc

	// attempts and retryWait govern retries of transient HTTP failures; now is the clock
	// used to check Valid-Until and key expiry. Tests change them.
	attempts  int
	retryWait time.Duration
	now       func() time.Time

	mu      sync.Mutex
	release *release // verified InRelease, fetched once per Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client use hc instead of its default, which has no overall
// timeout (downloads may be large) but gives up on a server that does not answer for a
// minute.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithProgress makes the Client report downloads to fn.
func WithProgress(fn ProgressFunc) Option { return func(c *Client) { c.progress = fn } }

// NewClient returns a Client for src that caches downloads under cacheDir. It reads the
// keyring at once, so that a missing or empty keyring fails early.
func NewClient(src Source, cacheDir string, opts ...Option) (*Client, error) {
	if src.Suite == "" {
		src.Suite = DefaultSuite
	}
	if len(src.Components) == 0 {
		src.Components = []string{"main"}
	}
	if src.Keyring == "" {
		src.Keyring = DefaultKeyring
	}
	src.Mirror = strings.TrimRight(src.Mirror, "/")
	if src.Mirror == "" {
		return nil, errors.New("no Debian mirror given; pass --debian-mirror URL")
	}
	u, err := url.Parse(src.Mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the Debian mirror %q is not an http(s) URL; pass --debian-mirror http://HOST/debian", src.Mirror)
	}
	if cacheDir == "" {
		return nil, errors.New("debian: no cache directory given")
	}
	keyring, err := readKeyring(src.Keyring)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = time.Minute
	// A mirror that accepts no connection is reported within seconds, not after the system's
	// TCP timeout of minutes per attempt.
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	c := &Client{
		src:       src,
		mirror:    u,
		cache:     cache.Cache{Dir: cacheDir},
		keyring:   keyring,
		http:      &http.Client{Transport: transport},
		attempts:  3,
		retryWait: time.Second,
		now:       time.Now,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// Source returns the client's source, with defaults filled in.
func (c *Client) Source() Source { return c.src }

// readKeyring reads a binary or ASCII-armored OpenPGP keyring.
func readKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Debian keyring: %w; install debian-archive-keyring or pass --debian-keyring", err)
	}
	var keys openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("read Debian keyring %s: %w; pass --debian-keyring with an OpenPGP keyring", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the Debian keyring %s holds no OpenPGP keys; pass --debian-keyring", path)
	}
	return keys, nil
}

// url returns the URL of a path relative to the mirror.
func (c *Client) url(rel string) string {
	return c.mirror.JoinPath(rel).String()
}

// errNotFound marks an HTTP 404, after which another file may be tried.
var errNotFound = errors.New(http.StatusText(http.StatusNotFound))

// get fetches rawURL and passes the response body to read. Failures that may pass are
// retried: network errors, 5xx and 429 responses, and a body that breaks off while read
// consumes it (read must then start afresh on the next call). If name is not empty and
// the Client has a ProgressFunc, the download is reported under that name.
func (c *Client) get(ctx context.Context, rawURL, name string, read func(io.Reader) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		if retry, err = c.try(ctx, rawURL, name, read); !retry {
			return err
		}
		if attempt == c.attempts {
			return fmt.Errorf("%w (gave up after %d attempts); check the network and --debian-mirror", err, attempt)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (interrupted while waiting to retry: %w)", err, context.Cause(ctx))
		case <-time.After(c.retryWait << (attempt - 1)):
		}
	}
}

func (c *Client) try(ctx context.Context, rawURL, name string, read func(io.Reader) error) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The error names the URL. A cancelled context is final.
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Errorf("GET %s: 404 %w", rawURL, errNotFound)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	default:
		return false, fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	body := &bodyReader{r: resp.Body, name: name, total: resp.ContentLength, progress: c.progress}
	if name != "" && c.progress != nil {
		c.progress(name, 0, body.total)
	}
	if err := read(body); err != nil {
		if body.err != nil {
			return ctx.Err() == nil, fmt.Errorf("GET %s: %w", rawURL, body.err)
		}
		return false, err
	}
	return false, nil
}

// bodyReader remembers a failure of the connection, which is worth a retry, as opposed to
// a failure of what is read, and reports progress.
type bodyReader struct {
	r        io.Reader
	err      error
	name     string
	done     int64
	total    int64
	progress ProgressFunc
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	b.done += int64(n)
	if n > 0 && b.name != "" && b.progress != nil {
		b.progress(b.name, b.done, b.total)
	}
	return n, err
}
