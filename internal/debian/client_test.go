package debian

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/cache/cachetest"
	"github.com/ckubelet/ckubelet/internal/debian/debtest"
)

// fixture is a signed Debian archive served over HTTP, with the keyring that verifies it.
type fixture struct {
	archive *debtest.Archive
	server  *httptest.Server
	key     *openpgp.Entity
	keyring string
	cache   string
}

const (
	helloControl    = "Package: hello\nVersion: 1.0-1\nArchitecture: arm64\nDepends: libhello (>= 1.0)\nDescription: says hello\n a longer description\n"
	libhelloControl = "Package: libhello\nVersion: 1.2-1\nArchitecture: all\nMulti-Arch: foreign\n"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{key: debtest.NewKey(t, "Test Archive Key", nil), cache: t.TempDir()}
	f.archive = debtest.NewArchive("trixie", []string{"amd64", "arm64"}, f.key)
	f.archive.AddPackage(t, "main", helloControl,
		debtest.Dir("./", 0o755),
		debtest.Dir("./usr/", 0o755),
		debtest.Dir("./usr/bin/", 0o755),
		debtest.File("./usr/bin/hello", 0o755, "#!/bin/sh\necho hello\n"),
		debtest.Symlink("./usr/bin/hi", "hello"),
	)
	f.archive.AddPackage(t, "main", libhelloControl,
		debtest.Dir("./usr/", 0o755),
		debtest.Dir("./usr/share/", 0o755),
		debtest.File("./usr/share/hello.txt", 0o644, "hello\n"),
	)
	f.archive.Publish(t)
	f.server = httptest.NewServer(f.archive)
	t.Cleanup(f.server.Close)
	f.keyring = filepath.Join(t.TempDir(), "keyring.gpg")
	debtest.WriteKeyring(t, f.keyring, false, f.key)
	return f
}

func (f *fixture) source() Source {
	return Source{Mirror: f.server.URL + "/debian/", Keyring: f.keyring}
}

func (f *fixture) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(f.source(), f.cache, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.retryWait = time.Millisecond
	return c
}

// assertNoBlobs fails if the cache holds any file, complete or partial.
func assertNoBlobs(t *testing.T, cache string) {
	t.Helper()
	filepath.WalkDir(cache, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("cache holds %s", path)
		}
		return nil
	})
}

func countRequests(a *debtest.Archive, path string) int {
	n := 0
	for _, r := range a.Requests() {
		if r == path {
			n++
		}
	}
	return n
}

func TestIndexResolveFetchExtract(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	progress := map[string]int64{}
	c := f.client(t, WithProgress(func(name string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		progress[name] = done
	}))
	ctx := context.Background()

	ix, err := c.Index(ctx, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Suite != "trixie" || ix.Arch != "arm64" || ix.Len() != 2 {
		t.Fatalf("index %s/%s with %d packages", ix.Suite, ix.Arch, ix.Len())
	}
	pkgs, err := ix.Resolve([]string{"hello"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "hello" || pkgs[1].Name != "libhello" || pkgs[1].Architecture != "all" {
		t.Fatalf("resolved %v", pkgs)
	}
	if want := helloControl + "Filename: "; !strings.HasPrefix(pkgs[0].Stanza, want) {
		t.Errorf("Stanza = %q, want prefix %q", pkgs[0].Stanza, want)
	}

	root := t.TempDir()
	var files []string
	for _, p := range pkgs {
		deb, err := c.Fetch(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := blobPath(f, p.SHA256); deb != want {
			t.Errorf("Fetch = %s, want %s", deb, want)
		}
		written, err := Extract(deb, root)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, written...)
	}
	want := []string{"usr", "usr/bin", "usr/bin/hello", "usr/bin/hi", "usr", "usr/share", "usr/share/hello.txt"}
	if !slices.Equal(files, want) {
		t.Errorf("extracted %q, want %q", files, want)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/bin/hi")); err != nil || string(b) != "#!/bin/sh\necho hello\n" {
		t.Errorf("usr/bin/hi: %q, %v", b, err)
	}
	if progress["trixie/main/binary-arm64/Packages.xz"] == 0 || progress[filepath.Base(pkgs[0].Filename)] != pkgs[0].Size {
		t.Errorf("progress = %v", progress)
	}

	// A second client reuses the verified Packages file and .debs from the cache, but
	// always fetches InRelease, which says what is current.
	c2 := f.client(t)
	ix2, err := c2.Index(ctx, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Fetch(ctx, pkgs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Index(ctx, "amd64"); err != nil {
		t.Fatal(err)
	}
	if ix2.Len() != 2 {
		t.Errorf("second index has %d packages", ix2.Len())
	}
	for path, want := range map[string]int{
		"dists/trixie/InRelease":                     2,
		"dists/trixie/main/binary-arm64/Packages.xz": 1,
		"dists/trixie/main/binary-amd64/Packages.xz": 1,
		pkgs[0].Filename:                             1,
	} {
		if got := countRequests(f.archive, path); got != want {
			t.Errorf("%s requested %d times, want %d", path, got, want)
		}
	}
}

// resign replaces the fixture's InRelease by an edited copy, signed with the fixture's key.
func resign(t *testing.T, f *fixture, edit func(string) string) {
	t.Helper()
	block, _ := clearsign.Decode(f.archive.File("dists/trixie/InRelease"))
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, f.key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(edit(string(block.Plaintext))))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.archive.SetFile("dists/trixie/InRelease", buf.Bytes())
}

func TestIndexCachesDecompressedPackages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.client(t).Index(ctx, "arm64"); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	rel, err := c.getRelease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain := blobPath(f, rel.files["main/binary-arm64/Packages"].sha256)
	if _, err := os.Stat(plain); err != nil {
		t.Fatalf("decompressed Packages not cached: %v", err)
	}

	// A corrupt decompressed copy is detected and rebuilt from the cached Packages.xz.
	os.Chmod(plain, 0o644)
	os.WriteFile(plain, []byte("Package: evil\nVersion: 1\nArchitecture: all\n"), 0o644)
	ix, err := c.Index(ctx, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ix.Lookup("evil"); ok || ix.Len() != 2 {
		t.Errorf("index from a corrupt cache entry: %d packages", ix.Len())
	}
	if n := countRequests(f.archive, "dists/trixie/main/binary-arm64/Packages.xz"); n != 1 {
		t.Errorf("Packages.xz fetched %d times, want 1", n)
	}
}

func TestIndexRejectsInconsistentRelease(t *testing.T) {
	f := newFixture(t)
	// A correctly signed InRelease whose entry for the uncompressed Packages does not
	// match the decompressed Packages.xz.
	resign(t, f, func(s string) string {
		var out []string
		for _, line := range strings.Split(s, "\n") {
			if strings.HasSuffix(line, " main/binary-arm64/Packages") {
				line = " " + strings.Repeat("0", 64) + line[65:]
			}
			out = append(out, line)
		}
		return strings.Join(out, "\n")
	})
	_, err := f.client(t).Index(context.Background(), "arm64")
	if err == nil || !strings.Contains(err.Error(), "main/binary-arm64/Packages.xz of trixie, decompressed: SHA256 mismatch") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cache, cache.Layout, "sha256", strings.Repeat("0", 64))); err == nil {
		t.Error("mismatching decompressed Packages cached")
	}
}

func TestIndexPackagesFormats(t *testing.T) {
	tests := []struct {
		name         string
		compressions []string
		remove       string // a file the mirror lacks although InRelease lists it
	}{
		{name: "gz only", compressions: []string{"gz"}},
		{name: "plain only", compressions: []string{""}},
		{name: "xz listed but missing", compressions: []string{"xz", "gz"}, remove: "Packages.xz"},
		{name: "compressed listed but missing", compressions: []string{"xz", "gz", ""}, remove: "Packages.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.archive.Compressions = tt.compressions
			f.archive.Publish(t)
			if tt.remove != "" {
				f.archive.SetFile("dists/trixie/main/binary-arm64/"+tt.remove, nil)
				if tt.remove == "Packages.gz" {
					f.archive.SetFile("dists/trixie/main/binary-arm64/Packages.xz", nil)
				}
			}
			ix, err := f.client(t).Index(context.Background(), "arm64")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := ix.Lookup("hello"); !ok {
				t.Error("hello missing from index")
			}
		})
	}
}

func TestIndexRejects(t *testing.T) {
	inRelease := "dists/trixie/InRelease"
	packagesXZ := "dists/trixie/main/binary-arm64/Packages.xz"
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *fixture)
		arch    string
		wantErr string
	}{
		{
			name: "keyring lacks the signing key",
			setup: func(t *testing.T, f *fixture) {
				debtest.WriteKeyring(t, f.keyring, false, debtest.NewKey(t, "Other", nil))
			},
			wantErr: "InRelease of trixie at {{URL}}/debian/dists/trixie/InRelease: signature not made by any key in {{KEYRING}}; pass --debian-keyring",
		},
		{
			name: "signed text altered",
			setup: func(t *testing.T, f *fixture) {
				data := strings.Replace(string(f.archive.File(inRelease)), "Label: Debian", "Label: Evil", 1)
				f.archive.SetFile(inRelease, []byte(data))
			},
			wantErr: "bad signature (key ",
		},
		{
			name: "unsigned text after the signature",
			setup: func(t *testing.T, f *fixture) {
				f.archive.SetFile(inRelease, append(f.archive.File(inRelease), "SHA256:\n 00 1 x\n"...))
			},
			wantErr: "unsigned data after the signature",
		},
		{
			name: "unsigned text before the signature",
			setup: func(t *testing.T, f *fixture) {
				f.archive.SetFile(inRelease, append([]byte("Suite: trixie\n\n"), f.archive.File(inRelease)...))
			},
			wantErr: "not a clearsigned OpenPGP message",
		},
		{
			name: "another suite's InRelease",
			setup: func(t *testing.T, f *fixture) {
				other := debtest.NewArchive("bookworm", []string{"arm64"}, f.key)
				other.Publish(t)
				f.archive.SetFile(inRelease, other.File("dists/bookworm/InRelease"))
			},
			wantErr: `file is for suite "stable" (codename "bookworm"), not "trixie"`,
		},
		{
			name: "past Valid-Until",
			setup: func(t *testing.T, f *fixture) {
				f.archive.ValidUntil = time.Now().Add(-time.Hour)
				f.archive.Publish(t)
			},
			wantErr: "(Valid-Until); the mirror is out of date",
		},
		{
			name: "malformed SHA256 list",
			setup: func(t *testing.T, f *fixture) {
				resign(t, f, func(s string) string { return strings.Replace(s, "SHA256:\n ", "SHA256:\n 00 12 x\n ", 1) })
			},
			wantErr: `bad SHA256 line "00 12 x"`,
		},
		{
			name: "no SHA256 list",
			setup: func(t *testing.T, f *fixture) {
				resign(t, f, func(s string) string { s, _, _ = strings.Cut(s, "SHA256:"); return s })
			},
			wantErr: "no SHA256 file list",
		},
		{
			name: "malformed Valid-Until",
			setup: func(t *testing.T, f *fixture) {
				resign(t, f, func(s string) string { return "Valid-Until: tomorrow\n" + s })
			},
			wantErr: `bad Valid-Until "tomorrow"`,
		},
		{
			name:    "architecture not in the archive",
			arch:    "mips64el",
			wantErr: `lists no architecture "mips64el" (it has all amd64 arm64)`,
		},
		{
			name: "Packages altered",
			setup: func(t *testing.T, f *fixture) {
				data := f.archive.File(packagesXZ)
				data[len(data)/2] ^= 1
			},
			wantErr: "Packages.xz: SHA256 mismatch: got ",
		},
		{
			name: "Packages truncated",
			setup: func(t *testing.T, f *fixture) {
				data := f.archive.File(packagesXZ)
				f.archive.SetFile(packagesXZ, data[:len(data)-1])
			},
			wantErr: "the mirror's copy is truncated or altered",
		},
		{
			name: "InRelease missing",
			setup: func(t *testing.T, f *fixture) {
				f.archive.SetFile(inRelease, nil)
			},
			wantErr: `/debian/dists/trixie/InRelease: 404 Not Found; check that the mirror serves suite "trixie"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			arch := cmp.Or(tt.arch, "arm64")
			_, err := f.client(t).Index(context.Background(), arch)
			want := strings.NewReplacer("{{URL}}", f.server.URL, "{{KEYRING}}", f.keyring).Replace(tt.wantErr)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant %q", err, want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			assertNoBlobs(t, f.cache)
		})
	}
}

func TestIndexChecksComponentsAndValidUntil(t *testing.T) {
	f := newFixture(t)
	f.archive.ValidUntil = time.Now().Add(time.Hour)
	f.archive.Publish(t)
	src := f.source()
	src.Components = []string{"main", "non-free"}
	c, err := NewClient(src, f.cache)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Index(context.Background(), "arm64")
	if err == nil || !strings.Contains(err.Error(), `lists no component "non-free" (it has main)`) {
		t.Fatalf("err = %v", err)
	}
	// The same archive an hour and a minute later.
	c = f.client(t)
	c.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	if _, err := c.Index(context.Background(), "arm64"); err == nil || !strings.Contains(err.Error(), "(Valid-Until)") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeyringFormatsAndSigners(t *testing.T) {
	now := time.Now()
	expired := debtest.NewKey(t, "Expired", &packet.Config{
		Time:            func() time.Time { return now.Add(-48 * time.Hour) },
		KeyLifetimeSecs: 3600,
	})
	current := debtest.NewKey(t, "Current", nil)
	tests := []struct {
		name    string
		signers []*openpgp.Entity
		keyring []*openpgp.Entity
		armored bool
		wantErr string
	}{
		{name: "armored keyring", signers: []*openpgp.Entity{current}, keyring: []*openpgp.Entity{current}, armored: true},
		{name: "one of two signers known", signers: []*openpgp.Entity{expired, current}, keyring: []*openpgp.Entity{current}},
		{
			// The first known signature fails; the second must still be tried.
			name:    "expired key signs first",
			signers: []*openpgp.Entity{expired, current},
			keyring: []*openpgp.Entity{expired, current},
		},
		{
			name:    "only an expired key",
			signers: []*openpgp.Entity{expired, current},
			keyring: []*openpgp.Entity{expired},
			wantErr: fmt.Sprintf("bad signature (key %X: openpgp: key expired)", expired.PrimaryKey.Fingerprint),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.archive.Signers = tt.signers
			f.archive.Publish(t)
			debtest.WriteKeyring(t, f.keyring, tt.armored, tt.keyring...)
			_, err := f.client(t).Index(context.Background(), "arm64")
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestFetchTamperedDeb(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ix, err := c.Index(context.Background(), "arm64")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ix.Lookup("hello")
	deb := f.archive.File(p.Filename)
	deb[len(deb)-10] ^= 0xff
	_, err = c.Fetch(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "fetch hello 1.0-1 (arm64): "+f.server.URL+"/debian/"+p.Filename+": SHA256 mismatch") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.cache, cache.Layout, "sha256", p.SHA256)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the tampered package is in the cache: %v", err)
	}
	des, _ := os.ReadDir(filepath.Join(f.cache, cache.Layout, "sha256"))
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			t.Errorf("the cache holds the work directory %s", de.Name())
		}
	}
}

// A damaged cached .deb is detected and fetched again.
func TestFetchRefetchesCorruptCache(t *testing.T) {
	for _, corruption := range cachetest.Corruptions {
		t.Run(corruption.Name, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ctx := context.Background()
			ix, err := c.Index(ctx, "arm64")
			if err != nil {
				t.Fatal(err)
			}
			p, _ := ix.Lookup("hello")
			path, err := c.Fetch(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			good, _ := os.ReadFile(path)
			corruption.Corrupt(t, path)
			path2, err := c.Fetch(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path2); path2 != path || string(got) != string(good) {
				t.Errorf("cache entry not repaired")
			}
			if n := countRequests(f.archive, p.Filename); n != 2 {
				t.Errorf("fetched %d times, want 2", n)
			}
		})
	}
}

// A damaged file of an unpacked package is detected and the package unpacked again, from the
// cached .deb.
func TestExtractedRebuildsCorruptTree(t *testing.T) {
	for _, corruption := range cachetest.Corruptions {
		t.Run(corruption.Name, func(t *testing.T) {
			f := newFixture(t)
			c := f.client(t)
			ctx := context.Background()
			ix, err := c.Index(ctx, "arm64")
			if err != nil {
				t.Fatal(err)
			}
			p, _ := ix.Lookup("hello")
			dir, err := c.Extracted(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(f.cache, cache.Layout, "extracted", p.SHA256, "content"); dir != want {
				t.Errorf("Extracted = %s, want %s", dir, want)
			}
			hello := filepath.Join(dir, "usr", "bin", "hello")
			good, err := os.ReadFile(hello)
			if err != nil {
				t.Fatal(err)
			}
			corruption.Corrupt(t, hello)
			again, err := c.Extracted(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(hello); again != dir || string(got) != string(good) {
				t.Errorf("after usr/bin/hello was %s: %s holds %q, want %q", corruption.Name, again, got, good)
			}
			if target, err := os.Readlink(filepath.Join(dir, "usr", "bin", "hi")); err != nil || target != "hello" {
				t.Errorf("usr/bin/hi -> %q, %v", target, err)
			}
			if n := countRequests(f.archive, p.Filename); n != 1 {
				t.Errorf(".deb fetched %d times, want 1 (it is cached)", n)
			}
		})
	}
	c := newFixture(t).client(t)
	if _, err := c.Extracted(context.Background(), Package{Name: "x", Version: "1", Architecture: "all", SHA256: "../x"}); err == nil {
		t.Error("Extracted accepted an invalid SHA256")
	}
}

// blobPath is where the fixture's client caches the file with the given SHA256.
func blobPath(f *fixture, sum string) string {
	return filepath.Join(f.cache, cache.Layout, "sha256", sum, "content", "blob")
}

func TestFetchRejectsBadIndexEntries(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	good := Package{Name: "x", Version: "1", Architecture: "all", Filename: "pool/main/x/x.deb", SHA256: strings.Repeat("a", 64), Size: 1}
	tests := []struct {
		name    string
		edit    func(*Package)
		wantErr string
	}{
		{"path escape", func(p *Package) { p.Filename = "../../etc/passwd" }, "bad Filename"},
		{"absolute path", func(p *Package) { p.Filename = "/pool/x.deb" }, "bad Filename"},
		{"no SHA256", func(p *Package) { p.SHA256 = "" }, "index gives no valid SHA256"},
		{"SHA256 as a path", func(p *Package) { p.SHA256 = "../" + strings.Repeat("a", 61) }, "index gives no valid SHA256"},
		{"no size", func(p *Package) { p.Size = 0 }, "index gives no valid Size"},
	}
	for _, tt := range tests {
		p := good
		tt.edit(&p)
		if _, err := c.Fetch(context.Background(), p); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	assertNoBlobs(t, f.cache)
}

func TestRetriesTransientErrors(t *testing.T) {
	f := newFixture(t)
	var failures atomic.Int32
	failures.Store(2)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failures.Add(-1) >= 0 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		f.archive.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	c, err := NewClient(Source{Mirror: flaky.URL + "/debian", Keyring: f.keyring}, f.cache, WithHTTPClient(flaky.Client()))
	if err != nil {
		t.Fatal(err)
	}
	c.retryWait = time.Millisecond
	if _, err := c.Index(context.Background(), "arm64"); err != nil {
		t.Fatalf("two 503s, then success: %v", err)
	}

	failures.Store(10)
	c.release = nil
	_, err = c.Index(context.Background(), "arm64")
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable (gave up after 3 attempts); check the network and --debian-mirror") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetriesBrokenDownload(t *testing.T) {
	f := newFixture(t)
	var broken atomic.Bool
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".deb") && broken.CompareAndSwap(false, true) {
			// Promise the whole file, send half of it, drop the connection.
			data := f.archive.File(strings.TrimPrefix(r.URL.Path, "/debian/"))
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			return
		}
		f.archive.ServeHTTP(w, r)
	}))
	defer server.Close()
	c, err := NewClient(Source{Mirror: server.URL + "/debian", Keyring: f.keyring}, f.cache)
	if err != nil {
		t.Fatal(err)
	}
	c.retryWait = time.Millisecond
	ix, err := c.Index(context.Background(), "arm64")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ix.Lookup("hello")
	if _, err := c.Fetch(context.Background(), p); err != nil {
		t.Fatalf("broken download, then success: %v", err)
	}
	if !broken.Load() {
		t.Fatal("the download was never broken")
	}
}

func TestUnreachableMirror(t *testing.T) {
	f := newFixture(t)
	f.server.Close()
	c := f.client(t)
	_, err := c.Index(context.Background(), "arm64")
	url := f.server.URL + "/debian/dists/trixie/InRelease"
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("err = %v, want one naming %s", err, url)
	}
}

func TestContextCancelled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.client(t).Index(ctx, "arm64")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNewClientErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.gpg")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		name    string
		src     Source
		cache   string
		wantErr string
	}{
		{"no mirror", Source{}, "c", "no Debian mirror given; pass --debian-mirror URL"},
		{"not http", Source{Mirror: "ftp://mirror.example.org/debian"}, "c", "not an http(s) URL"},
		{"no cache", Source{Mirror: "http://mirror.example.org/debian"}, "", "no cache directory"},
		{"no keyring", Source{Mirror: "http://mirror.example.org/debian", Keyring: "/nonexistent.gpg"}, "c", "install debian-archive-keyring or pass --debian-keyring"},
		{"empty keyring", Source{Mirror: "http://mirror.example.org/debian", Keyring: empty}, "c", "holds no OpenPGP keys"},
	}
	for _, tt := range tests {
		if _, err := NewClient(tt.src, tt.cache); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestNewClientDefaults(t *testing.T) {
	f := newFixture(t)
	c, err := NewClient(Source{Mirror: "https://mirror.example.org/debian/", Keyring: f.keyring}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := c.Source()
	if src.Suite != DefaultSuite || !slices.Equal(src.Components, []string{"main"}) || src.Mirror != "https://mirror.example.org/debian" {
		t.Errorf("Source() = %+v", src)
	}
}
