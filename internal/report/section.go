package report

import (
	"bytes"
	"fmt"
	"os"
)

// Markers delimit the generated size section of a Markdown document (the README).
const (
	SectionBegin = "<!-- sizes:begin -->"
	SectionEnd   = "<!-- sizes:end -->"
)

// ReplaceSection returns doc with the text between the size markers replaced by content.
func ReplaceSection(doc, content []byte) ([]byte, error) {
	return ReplaceBetween(doc, SectionBegin, SectionEnd, content)
}

// ReplaceBetween returns doc with the text between the begin and end markers replaced by content.
func ReplaceBetween(doc []byte, beginMarker, endMarker string, content []byte) ([]byte, error) {
	begin := bytes.Index(doc, []byte(beginMarker))
	end := bytes.Index(doc, []byte(endMarker))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("no %s … %s section", beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(doc[:begin+len(beginMarker)])
	out.WriteString("\n")
	out.Write(bytes.TrimSpace(content))
	out.WriteString("\n")
	out.Write(doc[end:])
	return out.Bytes(), nil
}

// UpdateSection rewrites the size section of the Markdown file at path.
func UpdateSection(path string, content []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := ReplaceSection(doc, content)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}
