package debian

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func lockTestPackages() []Package {
	return []Package{
		{Name: "iptables", Version: "1.8.11-2", Architecture: "arm64", Filename: "pool/main/i/iptables/iptables_1.8.11-2_arm64.deb", Size: 359080, SHA256: strings.Repeat("1", 64)},
		{Name: "netbase", Version: "6.5", Architecture: "all", Filename: "pool/main/n/netbase/netbase_6.5_all.deb", Size: 12345, SHA256: strings.Repeat("2", 64)},
	}
}

const wantLockFile = `# Debian packages resolved by ckubelet; regenerate rather than edit.
Format: ckubelet-debian-lock/1
Suite: trixie

Arch: amd64
Package: netbase
Version: 6.5
Architecture: all
Filename: pool/main/n/netbase/netbase_6.5_all.deb
Size: 12345
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Arch: arm64
Package: iptables
Version: 1.8.11-2
Architecture: arm64
Filename: pool/main/i/iptables/iptables_1.8.11-2_arm64.deb
Size: 359080
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Arch: arm64
Package: netbase
Version: 6.5
Architecture: all
Filename: pool/main/n/netbase/netbase_6.5_all.deb
Size: 12345
SHA256: 2222222222222222222222222222222222222222222222222222222222222222
`

func TestLockRoundTrip(t *testing.T) {
	l := NewLock("trixie")
	pkgs := lockTestPackages()
	// Unsorted input, and a replaced resolution, give the same file.
	l.Set("arm64", pkgs[:1])
	l.Set("amd64", pkgs[1:])
	l.Set("arm64", []Package{pkgs[1], pkgs[0]})
	var buf bytes.Buffer
	if err := l.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != wantLockFile {
		t.Fatalf("lock file:\n%s\nwant:\n%s", buf.String(), wantLockFile)
	}
	got, err := ReadLock(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, l) {
		t.Errorf("ReadLock = %+v\nwant %+v", got, l)
	}
	if err := got.Check("arm64", pkgs); err != nil {
		t.Errorf("Check of the same resolution: %v", err)
	}
}

func TestLockCheck(t *testing.T) {
	l := NewLock("trixie")
	l.Set("arm64", lockTestPackages())
	newer := lockTestPackages()
	newer[0].Version = "1.8.11-3"
	rebuilt := lockTestPackages()
	rebuilt[1].SHA256 = strings.Repeat("3", 64)
	tests := []struct {
		name    string
		arch    string
		pkgs    []Package
		wantErr string
	}{
		{name: "same", arch: "arm64", pkgs: lockTestPackages()},
		{
			name:    "new version",
			arch:    "arm64",
			pkgs:    newer,
			wantErr: "the Debian packages for arm64 differ from the lock (trixie): iptables: lock has 1.8.11-2, archive resolves 1.8.11-3; regenerate the lock file if the change is expected",
		},
		{
			name:    "same version, other file",
			arch:    "arm64",
			pkgs:    rebuilt,
			wantErr: "netbase 6.5: lock has pool/main/n/netbase/netbase_6.5_all.deb (12345 bytes, sha256 2222",
		},
		{
			name:    "added and removed",
			arch:    "arm64",
			pkgs:    []Package{lockTestPackages()[1], {Name: "libc6", Version: "2.41-12"}},
			wantErr: "iptables: lock has 1.8.11-2, archive no longer resolves it; libc6: archive resolves 2.41-12, lock lacks it;",
		},
		{
			name:    "arch not locked",
			arch:    "armhf",
			pkgs:    lockTestPackages(),
			wantErr: "the lock (trixie) has no Debian packages for armhf; regenerate the lock file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Check(tt.arch, tt.pkgs)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v\nwant %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadLockErrors(t *testing.T) {
	header := "Format: ckubelet-debian-lock/1\nSuite: trixie\n\n"
	stanza := "Arch: arm64\nPackage: a\nVersion: 1\nArchitecture: all\nFilename: pool/a.deb\nSize: 1\nSHA256: " + strings.Repeat("a", 64) + "\n"
	tests := []struct{ name, in, wantErr string }{
		{"empty", "", "empty file"},
		{"wrong format", "Format: other/2\n", `format "other/2"`},
		{"not deb822", "not a lock file\n", "line 1"},
		{"incomplete", header + "Arch: arm64\nPackage: a\n", `incomplete stanza for package "a"`},
		{"bad hash", header + strings.Replace(stanza, strings.Repeat("a", 64), "xyz", 1), "incomplete stanza"},
		{"bad size", header + strings.Replace(stanza, "Size: 1", "Size: big", 1), "incomplete stanza"},
		{"duplicate", header + stanza + "\n" + stanza, "package a (arm64) listed twice"},
	}
	for _, tt := range tests {
		if _, err := ReadLock(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestLockWriteRejectsBadValues(t *testing.T) {
	l := NewLock("trixie")
	p := lockTestPackages()[0]
	p.Filename = "pool/x.deb\nSHA256: forged"
	l.Set("arm64", []Package{p})
	if err := l.Write(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "bad Filename") {
		t.Fatalf("err = %v", err)
	}
}
