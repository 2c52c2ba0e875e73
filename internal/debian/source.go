package debian

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// HostMirror returns the Debian mirror named by the apt configuration under aptDir
// (normally "/etc/apt"): the first "deb" entry of sources.list, then of
// sources.list.d/*.list and *.sources in name order, that is a Debian archive. It reads
// one-line entries ("deb [options] URL suite components") and deb822 stanzas ("Types: deb",
// "URIs:", "Suites:", "Components:"). Comments, disabled stanzas, deb-src entries and the
// security archive are ignored. An entry counts as a Debian archive if it has the "main"
// component and either its URL path ends in "/debian" or one of its suites is a Debian
// codename or alias; "main" tells Debian apart from third-party repositories laid out
// like it, such as Docker's ".../linux/debian bookworm stable".
func HostMirror(aptDir string) (string, error) {
	files := []string{filepath.Join(aptDir, "sources.list")}
	parts, err := os.ReadDir(filepath.Join(aptDir, "sources.list.d"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read apt sources: %w", err)
	}
	for _, e := range parts {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".list" || ext == ".sources") {
			files = append(files, filepath.Join(aptDir, "sources.list.d", e.Name()))
		}
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read apt sources: %w", err)
		}
		var entries []aptEntry
		if strings.HasSuffix(file, ".sources") {
			entries, err = deb822Entries(string(data))
			if err != nil {
				return "", fmt.Errorf("read apt sources %s: %w", file, err)
			}
		} else {
			entries = oneLineEntries(string(data))
		}
		for _, e := range entries {
			if e.isDebianMirror() {
				return strings.TrimRight(e.uri, "/"), nil
			}
		}
	}
	return "", fmt.Errorf("no Debian mirror in %s; pass --debian-mirror URL", aptDir)
}

// aptEntry is one "deb" source.
type aptEntry struct {
	uri        string
	suites     []string
	components []string
}

// debianSuites are the codenames and aliases of Debian suites, old and upcoming.
var debianSuites = []string{
	"buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
	"oldoldstable", "oldstable", "stable", "testing", "unstable", "experimental",
}

func (e aptEntry) isDebianMirror() bool {
	u, err := url.Parse(e.uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !slices.Contains(e.components, "main") {
		return false
	}
	base := path.Base(strings.TrimRight(u.Path, "/"))
	if base == "debian-security" {
		return false
	}
	known := false
	for _, s := range e.suites {
		codename, variant, _ := strings.Cut(s, "-")
		if variant == "security" || strings.HasSuffix(s, "/updates") {
			return false
		}
		known = known || slices.Contains(debianSuites, codename)
	}
	return base == "debian" || known
}

// oneLineEntries parses sources.list lines: "deb [opt=v ...] URI suite [component...]".
func oneLineEntries(data string) []aptEntry {
	var entries []aptEntry
	for line := range strings.Lines(data) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			// Options may contain spaces: "[ arch=amd64 signed-by=/k.gpg ]".
			end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
			if end < 0 {
				continue
			}
			f = f[end+1:]
		}
		if len(f) >= 2 {
			entries = append(entries, aptEntry{uri: f[0], suites: f[1:2], components: f[2:]})
		}
	}
	return entries
}

// deb822Entries parses the stanzas of a .sources file (sources.list(5)).
func deb822Entries(data string) ([]aptEntry, error) {
	var entries []aptEntry
	for para, err := range paragraphs(data) {
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(para.get("Enabled"), "no") || !slices.Contains(strings.Fields(para.get("Types")), "deb") {
			continue
		}
		suites, comps := strings.Fields(para.get("Suites")), strings.Fields(para.get("Components"))
		for _, uri := range strings.Fields(para.get("URIs")) {
			entries = append(entries, aptEntry{uri: uri, suites: suites, components: comps})
		}
	}
	return entries, nil
}
