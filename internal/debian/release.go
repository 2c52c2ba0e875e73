package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// release is a verified InRelease file.
type release struct {
	url           string // where it came from, for error messages
	architectures []string
	components    []string
	files         map[string]fileSum // by path relative to dists/<suite>/
}

type fileSum struct {
	sha256 string
	size   int64
}

// maxInRelease bounds the size of an InRelease download; Debian's are about 150 KB.
const maxInRelease = 32 << 20

// getRelease returns the suite's verified InRelease, fetching it on first use.
func (c *Client) getRelease(ctx context.Context) (*release, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.release != nil {
		return c.release, nil
	}
	u := c.url("dists/" + c.src.Suite + "/InRelease")
	var data []byte
	err := c.get(ctx, u, "", func(body io.Reader) (err error) {
		data, err = io.ReadAll(io.LimitReader(body, maxInRelease+1))
		if err == nil && len(data) > maxInRelease {
			err = fmt.Errorf("GET %s: larger than %d bytes", u, maxInRelease)
		}
		return err
	})
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("%w; check that the mirror serves suite %q", err, c.src.Suite)
	}
	if err != nil {
		return nil, err
	}
	r, err := c.verifyRelease(data)
	if err != nil {
		return nil, fmt.Errorf("InRelease of %s at %s: %w", c.src.Suite, u, err)
	}
	r.url = u
	c.release = r
	return r, nil
}

// verifyRelease checks the signature of an InRelease file and parses what is signed. It
// rejects a file that is not for the Client's suite, so that a mirror cannot substitute
// another suite's signed file, and one past its Valid-Until date, so that a mirror cannot
// freeze the archive at an old state.
func (c *Client) verifyRelease(data []byte) (*release, error) {
	signed, err := verifyClearsigned(data, c.keyring, &packet.Config{Time: c.now})
	if errors.Is(err, errNoKnownSigner) {
		return nil, fmt.Errorf("%w in %s; pass --debian-keyring with the archive's key", err, c.src.Keyring)
	}
	if err != nil {
		return nil, err
	}
	var para paragraph
	for p, err := range paragraphs(string(signed)) {
		if err != nil {
			return nil, err
		}
		para = p
		break
	}
	suite, codename := para.get("Suite"), para.get("Codename")
	if c.src.Suite != suite && c.src.Suite != codename {
		return nil, fmt.Errorf("file is for suite %q (codename %q), not %q; the mirror is misconfigured", suite, codename, c.src.Suite)
	}
	if v := para.get("Valid-Until"); v != "" {
		until, err := parseReleaseDate(v)
		if err != nil {
			return nil, fmt.Errorf("bad Valid-Until %q", v)
		}
		if c.now().After(until) {
			return nil, fmt.Errorf("expired on %s (Valid-Until); the mirror is out of date, use another --debian-mirror", until.Format(time.RFC1123))
		}
	}
	r := &release{
		architectures: strings.Fields(para.get("Architectures")),
		components:    strings.Fields(para.get("Components")),
		files:         map[string]fileSum{},
	}
	for line := range strings.Lines(para.get("SHA256")) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var size int64 = -1
		if len(f) == 3 {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				size = n
			}
		}
		if size < 0 || !validSHA256(f[0]) {
			return nil, fmt.Errorf("bad SHA256 line %q", truncate(strings.TrimSpace(line), 100))
		}
		r.files[f[2]] = fileSum{sha256: f[0], size: size}
	}
	if len(r.files) == 0 {
		return nil, errors.New("no SHA256 file list; the archive is too old or not a Debian archive")
	}
	return r, nil
}

// parseReleaseDate parses a Date or Valid-Until field, "Sat, 09 Aug 2025 09:01:07 UTC".
func parseReleaseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC1123, s)
	if err != nil {
		t, err = time.Parse(time.RFC1123Z, s)
	}
	return t, err
}

// packagesFiles returns the Packages files listed for comp and arch, best first: xz is the
// smallest download.
func (r *release) packagesFiles(comp, arch string) []string {
	var names []string
	for _, ext := range []string{".xz", ".gz", ""} {
		name := comp + "/binary-" + arch + "/Packages" + ext
		if _, ok := r.files[name]; ok {
			names = append(names, name)
		}
	}
	return names
}

// checkArch and checkComponent turn a typo into a clear error rather than a 404.
func (r *release) checkArch(arch string) error {
	if len(r.architectures) > 0 && !slices.Contains(r.architectures, arch) {
		return fmt.Errorf("%s lists no architecture %q (it has %s)", r.url, arch, strings.Join(r.architectures, " "))
	}
	return nil
}

func (r *release) checkComponent(comp string) error {
	if len(r.components) > 0 && !slices.Contains(r.components, comp) {
		return fmt.Errorf("%s lists no component %q (it has %s)", r.url, comp, strings.Join(r.components, " "))
	}
	return nil
}

var errNoKnownSigner = errors.New("signature not made by any key")

// verifyClearsigned checks a clearsigned OpenPGP message and returns the signed text. The
// message is accepted if at least one of its signatures is valid and made by a key in the
// keyring that is neither expired nor revoked, as apt does; text outside the signed part
// is refused, since it could be mistaken for signed text.
//
// openpgp.VerifyDetachedSignature only looks at the first signature by a known key, so a
// file signed by an old, expired key and a current one would fail. Hence each known signer
// is tried on its own, with a keyring holding only that signer.
func verifyClearsigned(data []byte, keyring openpgp.EntityList, config *packet.Config) ([]byte, error) {
	const header = "-----BEGIN PGP SIGNED MESSAGE-----"
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(header)) {
		return nil, errors.New("not a clearsigned OpenPGP message")
	}
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, errors.New("malformed clearsigned OpenPGP message")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("unsigned data after the signature")
	}
	sigs, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("read signature: %w", err)
	}
	var signers openpgp.EntityList
	packets := packet.NewReader(bytes.NewReader(sigs))
	for {
		p, err := packets.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read signature: %w", err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			return nil, fmt.Errorf("unexpected %T in the signature block", p)
		}
		if sig.IssuerKeyId == nil {
			continue
		}
		for _, k := range keyring.KeysByIdUsage(*sig.IssuerKeyId, packet.KeyFlagSign) {
			if !slices.Contains(signers, k.Entity) {
				signers = append(signers, k.Entity)
			}
		}
	}
	if len(signers) == 0 {
		return nil, errNoKnownSigner
	}
	var failures []string
	for _, e := range signers {
		_, _, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{e}, bytes.NewReader(block.Bytes), bytes.NewReader(sigs), config)
		if err == nil {
			return block.Plaintext, nil
		}
		failures = append(failures, fmt.Sprintf("key %X: %v", e.PrimaryKey.Fingerprint, err))
	}
	return nil, fmt.Errorf("bad signature (%s); the file was altered or the keyring is out of date", strings.Join(failures, "; "))
}
