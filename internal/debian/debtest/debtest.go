// Package debtest builds Debian packages and signed Debian archives for tests, so that
// tests of Debian archive clients need no network and no Debian tools.
package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Entry is one member of a tar archive.
type Entry struct {
	Header tar.Header
	Body   string
}

// Dir returns a directory entry.
func Dir(name string, mode int64) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}

// File returns a regular file entry.
func File(name string, mode int64, body string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body))}, Body: body}
}

// Symlink returns a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// Hardlink returns a hard link entry; target is a path in the archive.
func Hardlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

// Tar returns a tar archive of entries, in order.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		h.Format = tar.FormatGNU
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatalf("tar %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Compress compresses data as ext says: "" (not at all), "gz", "xz" or "zst".
func Compress(t testing.TB, data []byte, ext string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch ext {
	case "":
		return data
	case "gz":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zst":
		w, err = zstd.NewWriter(&buf)
	default:
		t.Fatalf("debtest: unknown compression %q", ext)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Deb returns a .deb (deb(5)): an ar archive of debian-binary, control.tar.gz holding
// control, and data.tar compressed as compression says ("", "gz", "xz" or "zst").
func Deb(t testing.TB, control string, dataTar []byte, compression string) []byte {
	t.Helper()
	controlTar := Tar(t, Dir("./", 0o755), File("./control", 0o644, control))
	dataName := "data.tar"
	if compression != "" {
		dataName += "." + compression
	}
	return Ar(
		ArMember{"debian-binary", []byte("2.0\n")},
		ArMember{"control.tar.gz", Compress(t, controlTar, "gz")},
		ArMember{dataName, Compress(t, dataTar, compression)},
	)
}

// ArMember is one member of an ar archive.
type ArMember struct {
	Name string
	Data []byte
}

// Ar returns an ar archive in the common format that dpkg writes.
func Ar(members ...ArMember) []byte {
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.Name, 0, 0, 0, "100644", len(m.Data))
		buf.Write(m.Data)
		if len(m.Data)%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// NewKey returns a new OpenPGP signing key. Ed25519 keeps tests fast. config may be nil;
// tests of key expiry set its Time and KeyLifetimeSecs.
func NewKey(t testing.TB, name string, config *packet.Config) *openpgp.Entity {
	t.Helper()
	if config == nil {
		config = &packet.Config{}
	}
	config.Algorithm = packet.PubKeyAlgoEdDSA
	e, err := openpgp.NewEntity(name, "test", "test@example.org", config)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// WriteKeyring writes the public parts of keys to path, ASCII-armored or binary.
func WriteKeyring(t testing.TB, path string, armored bool, keys ...*openpgp.Entity) {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		var err error
		if aw, err = armor.Encode(&buf, openpgp.PublicKeyType, nil); err != nil {
			t.Fatal(err)
		}
		w = aw
	}
	for _, k := range keys {
		if err := k.Serialize(w); err != nil {
			t.Fatal(err)
		}
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Archive is a Debian archive held in memory and served over HTTP below /debian/. Add
// packages, Publish, then serve it with httptest.NewServer; tests may alter Files after
// Publish to simulate a broken or hostile mirror.
type Archive struct {
	Suite      string   // the codename, e.g. "trixie"
	Archs      []string // e.g. amd64, arm64
	Signers    []*openpgp.Entity
	SignConfig *packet.Config // may be nil
	// Compressions lists the Packages files to publish: "xz", "gz", or "" for the
	// uncompressed file. InRelease lists those and, as Debian's does, the uncompressed
	// file in any case.
	Compressions []string
	ValidUntil   time.Time // omitted if zero

	mu       sync.Mutex
	files    map[string][]byte
	stanzas  map[string][]string // by "component/binary-arch"
	requests []string
}

// NewArchive returns an empty archive for suite and archs, signed by signers, publishing
// Packages.xz and Packages.gz.
func NewArchive(suite string, archs []string, signers ...*openpgp.Entity) *Archive {
	return &Archive{
		Suite:        suite,
		Archs:        archs,
		Signers:      signers,
		Compressions: []string{"xz", "gz"},
		files:        map[string][]byte{},
		stanzas:      map[string][]string{},
	}
}

// Add puts a .deb with the given control file and data into the pool of component comp
// and lists it in the Packages files of its architecture, or of every architecture for
// "Architecture: all". It returns the pool path.
func (a *Archive) Add(t testing.TB, comp, control string, deb []byte) string {
	t.Helper()
	name, ver, arch := controlField(control, "Package"), controlField(control, "Version"), controlField(control, "Architecture")
	if name == "" || ver == "" || arch == "" {
		t.Fatalf("debtest: control lacks Package, Version or Architecture:\n%s", control)
	}
	pool := fmt.Sprintf("pool/%s/%s/%s/%s_%s_%s.deb", comp, name[:1], name, name, ver, arch)
	sum := sha256.Sum256(deb)
	stanza := strings.TrimRight(control, "\n") + fmt.Sprintf("\nFilename: %s\nSize: %d\nSHA256: %s\n", pool, len(deb), hex.EncodeToString(sum[:]))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[pool] = deb
	for _, ar := range a.Archs {
		if arch == "all" || arch == ar {
			key := comp + "/binary-" + ar
			a.stanzas[key] = append(a.stanzas[key], stanza)
		}
	}
	return pool
}

// AddPackage builds a .deb from control and entries (data.tar.xz) and Adds it.
func (a *Archive) AddPackage(t testing.TB, comp, control string, entries ...Entry) string {
	t.Helper()
	return a.Add(t, comp, control, Deb(t, control, Tar(t, entries...), "xz"))
}

func controlField(control, name string) string {
	for line := range strings.Lines(control) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Publish writes the Packages files and a clearsigned InRelease. Call it again after
// adding packages.
func (a *Archive) Publish(t testing.TB) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	dists := "dists/" + a.Suite + "/"
	var comps []string
	var sums strings.Builder
	for _, key := range slices.Sorted(maps.Keys(a.stanzas)) {
		comp, _, _ := strings.Cut(key, "/")
		if !slices.Contains(comps, comp) {
			comps = append(comps, comp)
		}
		plain := []byte(strings.Join(a.stanzas[key], "\n"))
		// Like Debian, list the uncompressed file even if it is not published.
		sum := sha256.Sum256(plain)
		fmt.Fprintf(&sums, " %s %d %s/Packages\n", hex.EncodeToString(sum[:]), len(plain), key)
		for _, ext := range a.Compressions {
			name := key + "/Packages"
			if ext == "" {
				a.files[dists+name] = plain
				continue
			}
			name += "." + ext
			data := Compress(t, plain, ext)
			a.files[dists+name] = data
			sum := sha256.Sum256(data)
			fmt.Fprintf(&sums, " %s %d %s\n", hex.EncodeToString(sum[:]), len(data), name)
		}
	}
	var rel strings.Builder
	fmt.Fprintf(&rel, "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: %s\n", a.Suite)
	fmt.Fprintf(&rel, "Date: %s\n", time.Now().UTC().Format(time.RFC1123))
	if !a.ValidUntil.IsZero() {
		fmt.Fprintf(&rel, "Valid-Until: %s\n", a.ValidUntil.UTC().Format(time.RFC1123))
	}
	fmt.Fprintf(&rel, "Architectures: all %s\nComponents: %s\n", strings.Join(a.Archs, " "), strings.Join(comps, " "))
	fmt.Fprintf(&rel, "Description: test archive\nSHA256:\n%s", sums.String())

	var keys []*packet.PrivateKey
	for _, s := range a.Signers {
		keys = append(keys, s.PrivateKey)
	}
	var buf bytes.Buffer
	w, err := clearsign.EncodeMulti(&buf, keys, a.SignConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, rel.String()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a.files[dists+"InRelease"] = buf.Bytes()
}

// File returns a published file by its path below the archive root.
func (a *Archive) File(path string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files[path]
}

// SetFile replaces (or with nil data, removes) a published file.
func (a *Archive) SetFile(path string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if data == nil {
		delete(a.files, path)
		return
	}
	a.files[path] = data
}

// Requests returns the paths requested so far, in order.
func (a *Archive) Requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// ServeHTTP serves the archive below /debian/.
func (a *Archive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/debian/")
	a.mu.Lock()
	a.requests = append(a.requests, path)
	data, found := a.files[path]
	a.mu.Unlock()
	if !ok || !found || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}
