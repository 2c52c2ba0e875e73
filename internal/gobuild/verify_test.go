package gobuild

import (
	"context"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

func TestCheckVerification(t *testing.T) {
	ok := map[string]string{"GOPROXY": "https://proxy.golang.org,direct", "GOSUMDB": "sum.golang.org", "GOFLAGS": "-buildvcs=false"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		err  string
	}{
		{"defaults", ok, ""},
		{"a file proxy first", with("GOPROXY", "file:///srv/goproxy,https://proxy.golang.org"), ""},
		{"a sumdb of its own", with("GOSUMDB", "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8 https://sum.example"), ""},
		{"GOPROXY=off", with("GOPROXY", "off"), "GOPROXY=off allows no module proxy"},
		{"GOPROXY=direct", with("GOPROXY", "direct"), "GOPROXY=direct fetches from version control servers"},
		{"GOPROXY empty", with("GOPROXY", ""), "GOPROXY= allows no module proxy"},
		{"GOSUMDB=off", with("GOSUMDB", "off"), "GOSUMDB=off turns the checksum database off: ckubelet verifies every module against the checksum database and fetches through a module proxy; unset GOSUMDB"},
		{"GONOSUMDB", with("GONOSUMDB", "k8s.io"), "GONOSUMDB=k8s.io exempts modules from verification"},
		{"GOPRIVATE", with("GOPRIVATE", "*"), "GOPRIVATE=* exempts"},
		{"GONOPROXY", with("GONOPROXY", "k8s.io/*"), "GONOPROXY=k8s.io/* exempts"},
		{"GOINSECURE", with("GOINSECURE", "*"), "GOINSECURE=* exempts"},
		{"GONOSUMCHECK", with("GONOSUMCHECK", "1"), "GONOSUMCHECK=1 exempts"},
		{"GOFLAGS=-insecure", with("GOFLAGS", "-mod=mod -insecure"), "GOFLAGS=-mod=mod -insecure allows insecure downloads"},
	} {
		err := checkVerification(tt.env)
		if tt.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

// TestCheckVerificationReadsTheGoCommand checks that settings reach the check through the go
// command, as `go env -w` ones would.
func TestCheckVerificationReadsTheGoCommand(t *testing.T) {
	testenv.LookPath(t, "go")
	t.Setenv("GOSUMDB", "off")
	err := (&Go{}).CheckVerification(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GOSUMDB=off") {
		t.Fatalf("GOSUMDB=off: %v", err)
	}
	t.Setenv("GOSUMDB", "")
	t.Setenv("GONOSUMCHECK", "1")
	if err := (&Go{}).CheckVerification(context.Background()); err == nil || !strings.Contains(err.Error(), "GONOSUMCHECK=1") {
		t.Fatalf("GONOSUMCHECK: %v", err)
	}
}
