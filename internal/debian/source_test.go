package debian

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostMirror(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // relative to the apt directory
		want    string
		wantErr string
	}{
		{
			name: "deb822 with comments, security stanza second",
			files: map[string]string{"sources.list.d/debian.sources": `Types: deb
# http://snapshot.example.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
`},
			want: "http://mirror.example.org/debian",
		},
		{
			name: "deb822: security first, disabled and deb-src skipped",
			files: map[string]string{"sources.list.d/debian.sources": `Types: deb
URIs: https://security.example.org/debian-security
Suites: trixie-security
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example.org/debian
Suites: trixie
Components: main

Types: deb-src
URIs: http://src.example.org/debian
Suites: trixie
Components: main

Types: deb deb-src
URIs: https://deb.example.org/debian https://second.example.org/debian
Suites: trixie
Components: main contrib
`},
			want: "https://deb.example.org/debian",
		},
		{
			name: "one-line sources.list with options and comments",
			files: map[string]string{"sources.list": `# deb http://commented.example.org/debian bookworm main
deb-src http://src.example.org/debian bookworm main
deb http://security.example.org/debian-security bookworm-security main
deb http://security.example.org/debian bullseye/updates main
deb [ arch=amd64,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://mirror.example.org/debian bookworm main # trailing comment
`},
			want: "http://mirror.example.org/debian",
		},
		{
			name: "sources.list comes before sources.list.d",
			files: map[string]string{
				"sources.list":                  "deb [trusted=no] http://first.example.org/debian/ trixie main\n",
				"sources.list.d/a.list":         "deb http://second.example.org/debian trixie main\n",
				"sources.list.d/debian.sources": "Types: deb\nURIs: http://third.example.org/debian\nSuites: trixie\nComponents: main\n",
			},
			want: "http://first.example.org/debian",
		},
		{
			name: "a mirror not named debian is recognized by its suite",
			files: map[string]string{
				"sources.list.d/a.list": "deb http://mirror.example.org/pub/linux/deb stable main\n",
			},
			want: "http://mirror.example.org/pub/linux/deb",
		},
		{
			name: "third-party repositories and disabled files are not Debian",
			files: map[string]string{
				"sources.list.d/docker.list":                     "deb [arch=amd64] https://download.example.org/linux/debian bookworm stable\n",
				"sources.list.d/node.sources":                    "Types: deb\nURIs: https://node.example.org/node_20.x\nSuites: nodistro\nComponents: main\n",
				"sources.list.d/cloud.list.disabled-by-farm":     "deb https://cloud.example.org/debian bookworm main\n",
				"sources.list.d/cdrom.list":                      "deb cdrom:[Debian GNU/Linux 12]/ bookworm main\n",
				"sources.list.d/file.sources":                    "Types: deb\nURIs: file:///srv/debian\nSuites: bookworm\nComponents: main\n",
				"sources.list.d/zz-broken-options.list":          "deb [arch=amd64 http://x.example.org/debian bookworm main\n",
				"sources.list.d/nodebian.sources.disabled-by-me": "Types: deb\nURIs: http://y.example.org/debian\nSuites: bookworm\nComponents: main\n",
			},
			wantErr: "no Debian mirror in {{DIR}}; pass --debian-mirror URL",
		},
		{
			name:    "no apt configuration at all",
			files:   map[string]string{},
			wantErr: "no Debian mirror in {{DIR}}; pass --debian-mirror URL",
		},
		{
			name:    "malformed deb822",
			files:   map[string]string{"sources.list.d/bad.sources": "Types deb\n"},
			wantErr: "bad.sources: line 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				path := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := HostMirror(dir)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "{{DIR}}", dir)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("HostMirror = %q, %v; want error %q", got, err, want)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("HostMirror = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
