package debian

import (
	"fmt"
	"strings"

	"pault.ag/go/debian/version"
)

// Relation is one package relationship, such as "libc6 (>= 2.38)" or "awk:any".
type Relation struct {
	Name string
	// Arch is the multiarch qualifier after the colon ("any", "native", an architecture),
	// or "" if there is none.
	Arch string
	// Op is one of <<, <=, =, >=, >>, or "" for an unversioned relation.
	Op      string
	Version string
}

func (r Relation) String() string {
	s := r.Name
	if r.Arch != "" {
		s += ":" + r.Arch
	}
	if r.Op != "" {
		s += " (" + r.Op + " " + r.Version + ")"
	}
	return s
}

// alternativesString formats one element of a relationship field: "a | b (>= 1)".
func alternativesString(alts []Relation) string {
	s := make([]string, len(alts))
	for i, r := range alts {
		s[i] = r.String()
	}
	return strings.Join(s, " | ")
}

// parseRelations parses a relationship field of a binary package, such as Depends:
// "a, b (>= 1) | c:any". Each element of the result is one comma-separated requirement,
// satisfied by any one of its alternatives. Source-package syntax (architecture lists,
// build profiles) is rejected, as it never appears in a Packages file.
func parseRelations(field string) ([][]Relation, error) {
	var groups [][]Relation
	for group := range strings.SplitSeq(field, ",") {
		if strings.TrimSpace(group) == "" {
			// dpkg tolerates empty elements, e.g. a trailing comma.
			continue
		}
		var alts []Relation
		for alt := range strings.SplitSeq(group, "|") {
			r, err := parseRelation(alt)
			if err != nil {
				return nil, err
			}
			alts = append(alts, r)
		}
		groups = append(groups, alts)
	}
	return groups, nil
}

// parseRelation parses "name[:arch] [(op version)]".
func parseRelation(s string) (Relation, error) {
	s = strings.TrimSpace(s)
	var r Relation
	nameEnd := strings.IndexAny(s, " \t\n(")
	if nameEnd < 0 {
		nameEnd = len(s)
	}
	r.Name, r.Arch, _ = strings.Cut(s[:nameEnd], ":")
	if !validName(r.Name) {
		return Relation{}, fmt.Errorf("bad package name in relation %q", s)
	}
	if strings.Contains(s[:nameEnd], ":") && !validName(r.Arch) {
		return Relation{}, fmt.Errorf("bad architecture qualifier in relation %q", s)
	}
	rest := strings.TrimSpace(s[nameEnd:])
	if rest == "" {
		return r, nil
	}
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return Relation{}, fmt.Errorf("bad relation %q: want \"name (op version)\"", s)
	}
	inner := strings.TrimSpace(rest[1 : len(rest)-1])
	opEnd := strings.IndexFunc(inner, func(c rune) bool { return !strings.ContainsRune("<=>", c) })
	if opEnd < 0 {
		opEnd = len(inner)
	}
	r.Op, r.Version = inner[:opEnd], strings.TrimSpace(inner[opEnd:])
	switch r.Op {
	case "<<", "<=", "=", ">=", ">>":
	case "<", ">":
		// Obsolete spellings of <= and >=, still accepted by dpkg.
		r.Op += "="
	default:
		return Relation{}, fmt.Errorf("bad operator %q in relation %q", r.Op, s)
	}
	if _, err := version.Parse(r.Version); err != nil || strings.ContainsAny(r.Version, "()") {
		return Relation{}, fmt.Errorf("bad version in relation %q", s)
	}
	return r, nil
}

// validName reports whether s may be a Debian package or architecture name. Policy §5.6.1
// allows lowercase letters, digits, '+', '-' and '.', starting with a letter or digit.
func validName(s string) bool {
	for i, c := range s {
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	return s != ""
}

// satisfies reports whether a package or provided version have satisfies op want, using
// Debian version ordering. Unparsable versions satisfy nothing.
func satisfies(have, op, want string) bool {
	h, err := version.Parse(have)
	if err != nil {
		return false
	}
	w, err := version.Parse(want)
	if err != nil {
		return false
	}
	c := version.Compare(h, w)
	switch op {
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}
