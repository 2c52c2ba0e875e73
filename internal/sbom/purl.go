package sbom

import (
	"sort"
	"strings"
)

// purl builds a package URL (https://github.com/package-url/purl-spec). Only what SBOMs of this
// project need: a type, slash-separated name segments, an optional version and qualifiers.
type purl struct {
	typ        string
	segments   []string // namespace segments then the name
	version    string
	qualifiers map[string]string
}

func (p purl) String() string {
	var b strings.Builder
	b.WriteString("pkg:")
	b.WriteString(p.typ)
	for _, s := range p.segments {
		b.WriteByte('/')
		b.WriteString(escape(s, ""))
	}
	if p.version != "" {
		b.WriteByte('@')
		// Each as its type's examples in the spec: a Debian epoch colon stays literal
		// ("attr@1:2.4.47-2%2Bb1"), an OCI digest's is encoded ("debian@sha256%3A244f…").
		keep := ":"
		if p.typ == "oci" {
			keep = ""
		}
		b.WriteString(escape(p.version, keep))
	}
	keys := make([]string, 0, len(p.qualifiers))
	for k, v := range p.qualifiers {
		if v != "" {
			keys = append(keys, k)
		}
	}
	// The spec orders qualifiers by key so that equal purls compare equal as strings.
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		// '/' and ':' stay literal, as in the spec's "repository_url=docker.io/library/debian".
		b.WriteString(escape(p.qualifiers[k], "/:"))
	}
	return b.String()
}

// escape percent-encodes everything but RFC 3986 unreserved characters and keep. '+' in particular
// is encoded: many parsers read it as a space.
func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
