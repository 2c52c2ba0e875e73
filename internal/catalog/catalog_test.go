package catalog

import (
	"reflect"
	"strings"
	"testing"
)

var proxyVersions = []string{
	"v1.26.0", "v1.26.15", "v1.34.3", "v1.34.4", "v1.35.4", "v1.36.1", "v1.36.3",
	"v1.37.2", "v1.38.0-beta.0", "v1.0.0-garbage!", "v1.2.3+incompatible",
}

func TestResolveVersion(t *testing.T) {
	for _, tc := range []struct {
		in, want, errHas string
	}{
		{in: "latest", want: "v1.37.2"},
		{in: "", want: "v1.37.2"},
		{in: "1.36", want: "v1.36.3"},
		{in: "v1.36", want: "v1.36.3"},
		{in: "1.26", want: "v1.26.15"},
		{in: "v1.34.3", want: "v1.34.3"},
		{in: "1.34.3", want: "v1.34.3"},
		{in: "v1.38.0-beta.0", want: "v1.38.0-beta.0"},
		{in: "1.38", errHas: "nearest: v1.36.3, v1.37.2"},
		{in: "v1.35.9", errHas: "kubernetes v1.35.9 is not on the Go module proxy; nearest: v1.34.4, v1.35.4, v1.36.1, v1.36.3"},
		{in: "v1.0.0", errHas: "nearest: v1.26.0, v1.26.15"},
		{in: "banana", errHas: "want latest, MAJOR.MINOR"},
		{in: "v1.37", want: "v1.37.2"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ResolveVersion(tc.in, proxyVersions)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("ResolveVersion(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.errHas)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ResolveVersion(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestVersionParts(t *testing.T) {
	for _, tc := range []struct{ v, major, minor, staging string }{
		{"v1.37.2", "1", "37", "v0.37.2"},
		{"v1.38.0-beta.0", "1", "38", "v0.38.0-beta.0"},
		{"v1.26.0", "1", "26", "v0.26.0"},
	} {
		v := Version(tc.v)
		if v.Major() != tc.major || v.Minor() != tc.minor || v.StagingVersion() != tc.staging {
			t.Errorf("%s: got %s %s %s", tc.v, v.Major(), v.Minor(), v.StagingVersion())
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	amd64, arm64, armv7 := Supported[0], Supported[1], Supported[2]
	for _, tc := range []struct {
		in     string
		want   []Platform
		errHas string
	}{
		{in: DefaultPlatforms, want: []Platform{amd64, arm64, armv7}},
		{in: "linux/arm64", want: []Platform{arm64}},
		{in: " linux/arm64 , linux/amd64,linux/arm64", want: []Platform{arm64, amd64}},
		{in: "linux/arm", want: []Platform{armv7}},
		{in: "linux/riscv64", errHas: `unsupported platform "linux/riscv64"; supported: linux/amd64, linux/arm64, linux/arm/v7`},
		{in: "windows/amd64", errHas: "unsupported platform"},
		{in: "", errHas: "no platform given"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePlatforms(tc.in)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestPlatformToolchainNames(t *testing.T) {
	for _, tc := range []struct{ p, goarch, goarm, deb string }{
		{"linux/amd64", "amd64", "", "amd64"},
		{"linux/arm64", "arm64", "", "arm64"},
		{"linux/arm/v7", "arm", "7", "armhf"},
	} {
		p, err := ParsePlatform(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if p.GOARCH() != tc.goarch || p.GOARM() != tc.goarm || p.DebianArch() != tc.deb {
			t.Errorf("%s: got %s %s %s", tc.p, p.GOARCH(), p.GOARM(), p.DebianArch())
		}
	}
}

func TestKubeletImage(t *testing.T) {
	img := KubeletImage("v1.37.2", "trixie")
	if img.Ref() != "kubelet:v1.37.2-trixie" {
		t.Fatalf("got %s", img.Ref())
	}
}
