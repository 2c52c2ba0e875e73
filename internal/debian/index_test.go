package debian

import "testing"

func TestUpstreamVersion(t *testing.T) {
	pkgs := []Package{
		{Name: "libnftables1", Version: "1.1.3-1"},
		{Name: "libc6", Version: "2.41-12"},
		{Name: "epoched", Version: "1:2.0~rc1-3+deb13u1"},
		{Name: "native", Version: "20250101"},
	}
	for _, tc := range []struct{ name, want, err string }{
		{"libnftables1", "1.1.3", ""},
		{"epoched", "2.0~rc1", ""},
		{"native", "20250101", ""},
		{"nftables", "", "package nftables was not resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UpstreamVersion(pkgs, tc.name)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("UpstreamVersion(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
			}
		})
	}
}
