package debian

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// paragraph is one stanza of a deb822 file: Packages, InRelease, *.sources, a lock file.
type paragraph struct {
	// raw is the stanza as it appears in the input, from its first field line to its last
	// line, newline-terminated. It is a substring of the input, so large Packages files are
	// not copied.
	raw    string
	fields []field
}

type field struct {
	name string
	// value is trimmed; a multi-line value keeps its line breaks and indentation.
	value string
}

// get returns the value of the named field (names are case-insensitive), or "".
func (p paragraph) get(name string) string {
	v, _ := p.lookup(name)
	return v
}

func (p paragraph) lookup(name string) (string, bool) {
	for _, f := range p.fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// paragraphs parses deb822 text. Paragraphs are separated by blank lines; lines starting with
// '#' are comments; lines starting with a space or tab continue the previous field. Parsing
// stops at the first error, which is yielded with the number of the offending line.
func paragraphs(data string) iter.Seq2[paragraph, error] {
	return func(yield func(paragraph, error) bool) {
		var b builder
		lineNo := 0
		for off := 0; off < len(data); {
			lineNo++
			end := len(data)
			if i := strings.IndexByte(data[off:], '\n'); i >= 0 {
				end = off + i + 1
			}
			line := strings.TrimSuffix(data[off:end], "\n")
			switch {
			case strings.Trim(line, " \t") == "":
				if b.open() && !yield(b.take(data), nil) {
					return
				}
			case line[0] == '#':
				// A comment is neither part of a field nor a paragraph break.
			case line[0] == ' ' || line[0] == '\t':
				if !b.open() {
					yield(paragraph{}, fmt.Errorf("line %d: continuation line outside a field", lineNo))
					return
				}
				b.end = end
			default:
				name, _, ok := strings.Cut(line, ":")
				if !ok || name == "" || strings.ContainsAny(name, " \t") {
					yield(paragraph{}, fmt.Errorf("line %d: want \"Field: value\", got %q", lineNo, truncate(line, 60)))
					return
				}
				if !b.add(data, name, off, end) {
					yield(paragraph{}, fmt.Errorf("line %d: duplicate field %q", lineNo, name))
					return
				}
			}
			off = end
		}
		if b.open() {
			yield(b.take(data), nil)
		}
	}
}

// builder accumulates the paragraph being parsed, as offsets into the input.
type builder struct {
	p       paragraph
	start   int // offset of the first field line
	valueAt int // offset of the last field's value
	end     int // offset just past the last field or continuation line
}

func (b *builder) open() bool { return len(b.p.fields) > 0 }

// add starts a field whose line spans data[lineAt:end]. It reports false for a duplicate.
func (b *builder) add(data, name string, lineAt, end int) bool {
	if b.open() {
		if _, dup := b.p.lookup(name); dup {
			return false
		}
		b.closeField(data)
	} else {
		b.start = lineAt
	}
	b.p.fields = append(b.p.fields, field{name: name})
	b.valueAt = lineAt + len(name) + 1
	b.end = end
	return true
}

func (b *builder) closeField(data string) {
	v := data[b.valueAt:b.end]
	if strings.Contains(v, "\n#") {
		// Drop comment lines inside a multi-line value.
		lines := strings.Split(v, "\n")
		v = strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, "#") }), "\n")
	}
	b.p.fields[len(b.p.fields)-1].value = strings.TrimSpace(v)
}

// take returns the finished paragraph and resets b.
func (b *builder) take(data string) paragraph {
	b.closeField(data)
	p := b.p
	p.raw = data[b.start:b.end]
	if !strings.HasSuffix(p.raw, "\n") {
		p.raw += "\n"
	}
	*b = builder{}
	return p
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
