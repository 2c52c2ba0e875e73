package debian

import (
	"reflect"
	"strings"
	"testing"
)

func parseAll(t *testing.T, data string) ([]paragraph, error) {
	t.Helper()
	var ps []paragraph
	for p, err := range paragraphs(data) {
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func TestParagraphs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []map[string]string // fields of each paragraph
		raws    []string
		wantErr string
	}{
		{
			name: "two paragraphs",
			in:   "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n",
			want: []map[string]string{{"Package": "a", "Version": "1"}, {"Package": "b", "Version": "2"}},
			raws: []string{"Package: a\nVersion: 1\n", "Package: b\nVersion: 2\n"},
		},
		{
			name: "multi-line value, extra blank lines, no final newline",
			in:   "\n\nSHA256:\n abc 1 x\n def 2 y\nDescription: short\n long\n .\n more\n\n\n\nPackage: c",
			want: []map[string]string{
				{"SHA256": "abc 1 x\n def 2 y", "Description": "short\n long\n .\n more"},
				{"Package": "c"},
			},
			raws: []string{"SHA256:\n abc 1 x\n def 2 y\nDescription: short\n long\n .\n more\n", "Package: c\n"},
		},
		{
			name: "comments and whitespace-only separator",
			in:   "# header\nTypes: deb\n# http://old.example.org/debian\nURIs: http://mirror.example.org/debian\n \t\nTypes: deb-src\n",
			want: []map[string]string{{"Types": "deb", "URIs": "http://mirror.example.org/debian"}, {"Types": "deb-src"}},
		},
		{
			name: "comment inside a multi-line value",
			in:   "Suites: a\n# b\n c\n",
			want: []map[string]string{{"Suites": "a\n c"}},
		},
		{
			name: "field names are case-insensitive, values trimmed",
			in:   "package:   x  \n",
			want: []map[string]string{{"Package": "x"}},
		},
		{name: "continuation outside a field", in: " oops\n", wantErr: "line 1: continuation line outside a field"},
		{name: "no colon", in: "Package: a\nnot a field\n", wantErr: `line 2: want "Field: value", got "not a field"`},
		{name: "empty name", in: ": x\n", wantErr: "line 1: want"},
		{name: "duplicate", in: "Package: a\npackage: b\n", wantErr: `line 2: duplicate field "package"`},
		{name: "empty input", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := parseAll(t, tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d paragraphs, want %d", len(ps), len(tt.want))
			}
			for i, p := range ps {
				if len(p.fields) != len(tt.want[i]) {
					t.Errorf("paragraph %d: %d fields, want %d", i, len(p.fields), len(tt.want[i]))
				}
				for k, v := range tt.want[i] {
					if got := p.get(k); got != v {
						t.Errorf("paragraph %d: %s = %q, want %q", i, k, got, v)
					}
				}
				if tt.raws != nil && p.raw != tt.raws[i] {
					t.Errorf("paragraph %d: raw = %q, want %q", i, p.raw, tt.raws[i])
				}
			}
		})
	}
}

func TestParseRelations(t *testing.T) {
	tests := []struct {
		in      string
		want    [][]Relation
		wantErr string
	}{
		{in: "", want: nil},
		{in: "libc6 (>= 2.38), zlib1g", want: [][]Relation{{{Name: "libc6", Op: ">=", Version: "2.38"}}, {{Name: "zlib1g"}}}},
		{in: "debconf (>= 0.5) | debconf-2.0", want: [][]Relation{{{Name: "debconf", Op: ">=", Version: "0.5"}, {Name: "debconf-2.0"}}}},
		{in: "awk:any, python3:native (<< 3.14)", want: [][]Relation{{{Name: "awk", Arch: "any"}}, {{Name: "python3", Arch: "native", Op: "<<", Version: "3.14"}}}},
		{in: "a (=1:2.0-1~bpo1),", want: [][]Relation{{{Name: "a", Op: "=", Version: "1:2.0-1~bpo1"}}}},
		{in: "a(>>1)", want: [][]Relation{{{Name: "a", Op: ">>", Version: "1"}}}},
		{in: "a\n (<= 2),\n b", want: [][]Relation{{{Name: "a", Op: "<=", Version: "2"}}, {{Name: "b"}}}},
		{in: "a (< 2), b (> 1)", want: [][]Relation{{{Name: "a", Op: "<=", Version: "2"}}, {{Name: "b", Op: ">=", Version: "1"}}}},
		{in: "a (~ 1)", wantErr: "bad operator"},
		{in: "a (>= )", wantErr: "bad version"},
		{in: "a (>= 1", wantErr: "bad relation"},
		{in: "a >= 1)", wantErr: "bad relation"},
		{in: "a ()", wantErr: "bad operator"},
		{in: "a [amd64]", wantErr: "bad relation"},
		{in: "A", wantErr: "bad package name"},
		{in: "a | , b", wantErr: "bad package name"},
		{in: "a:", wantErr: "bad architecture qualifier"},
		{in: "a (>= 1) (<< 2)", wantErr: "bad version"},
	}
	for _, tt := range tests {
		got, err := parseRelations(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRelations(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseRelations(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestRelationString(t *testing.T) {
	alts := []Relation{{Name: "a", Arch: "any", Op: ">=", Version: "1.0"}, {Name: "b"}}
	if got, want := alternativesString(alts), "a:any (>= 1.0) | b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSatisfies(t *testing.T) {
	tests := []struct {
		have, op, want string
		ok             bool
	}{
		{"1.0", "=", "1.0", true},
		{"1.0-1", "=", "1.0", false},
		{"1.0~rc1", "<<", "1.0", true},
		{"1.0", "<<", "1.0", false},
		{"1.0", "<=", "1.0", true},
		{"1.0+b1", ">>", "1.0", true},
		{"1:0.1", ">>", "9.9", true}, // epoch wins
		{"2.38-1", ">=", "2.38", true},
		{"2.37-9", ">=", "2.38", false},
		{"1.10", ">>", "1.9", true}, // numeric, not lexical
		{"1.0a", ">>", "1.0", true},
		{"garbage!", ">=", "1", false},
	}
	for _, tt := range tests {
		if got := satisfies(tt.have, tt.op, tt.want); got != tt.ok {
			t.Errorf("satisfies(%q %s %q) = %v, want %v", tt.have, tt.op, tt.want, got, tt.ok)
		}
	}
}
