package catalog

import (
	"fmt"
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
		{in: "banana", errHas: "want latest, supported, MAJOR.MINOR"},
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
	amd64, arm64, armv7, riscv64 := Supported[0], Supported[1], Supported[2], Supported[3]
	for _, tc := range []struct {
		in     string
		want   []Platform
		errHas string
	}{
		{in: DefaultPlatforms, want: []Platform{amd64, arm64, armv7}},
		{in: "linux/arm64", want: []Platform{arm64}},
		{in: " linux/arm64 , linux/amd64,linux/arm64", want: []Platform{arm64, amd64}},
		{in: "linux/arm", want: []Platform{armv7}},
		{in: "linux/riscv64", want: []Platform{riscv64}},
		{in: "all", want: Supported},
		{in: "linux/mips64le", errHas: `unsupported platform "linux/mips64le"; supported: linux/amd64, linux/arm64, linux/arm/v7, linux/riscv64, linux/ppc64le, linux/s390x, or all`},
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
	for _, tc := range []struct{ p, goarch, goarm, deb, triplet, qemu string }{
		{"linux/amd64", "amd64", "", "amd64", "x86_64-linux-gnu", "qemu-x86_64-static"},
		{"linux/arm64", "arm64", "", "arm64", "aarch64-linux-gnu", "qemu-aarch64-static"},
		{"linux/arm/v7", "arm", "7", "armhf", "arm-linux-gnueabihf", "qemu-arm-static"},
		{"linux/riscv64", "riscv64", "", "riscv64", "riscv64-linux-gnu", "qemu-riscv64-static"},
		{"linux/ppc64le", "ppc64le", "", "ppc64el", "powerpc64le-linux-gnu", "qemu-ppc64le-static"},
		{"linux/s390x", "s390x", "", "s390x", "s390x-linux-gnu", "qemu-s390x-static"},
	} {
		p, err := ParsePlatform(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		qemu, _ := p.Qemu()
		if p.GOARCH() != tc.goarch || p.GOARM() != tc.goarm || p.DebianArch() != tc.deb || p.Triplet() != tc.triplet || qemu != tc.qemu {
			t.Errorf("%s: got %s %s %s %s %s", tc.p, p.GOARCH(), p.GOARM(), p.DebianArch(), p.Triplet(), qemu)
		}
		if back, ok := ForDebianArch(tc.deb); !ok || back != p {
			t.Errorf("ForDebianArch(%s) = %v, %v", tc.deb, back, ok)
		}
	}
}

func TestKubeletImage(t *testing.T) {
	img := KubeletImage("v1.37.2", "trixie")
	if img.Ref() != "kubelet:v1.37.2-trixie" {
		t.Fatalf("got %s", img.Ref())
	}
}

func TestParseSelection(t *testing.T) {
	names := func(s Selection) string {
		var out []string
		for _, f := range s.Flavors {
			out = append(out, f.Name)
		}
		if s.KubeProxy {
			out = append(out, "+kube-proxy")
		}
		if s.Pause {
			out = append(out, "+pause")
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ in, want, errHas string }{
		{in: "kubelet", want: "kubelet"},
		{in: "all", want: "kubelet flannel cni kubeadm kubeadm-cni +kube-proxy +pause"},
		{in: "kubeadm-cni, kubelet,kubelet", want: "kubelet kubeadm-cni"},
		{in: "pause", want: "+pause"},
		{in: "cni,kube-proxy", want: "cni +kube-proxy"},
		{in: "calico", errHas: `unknown flavor "calico"; known: kubelet, flannel, cni, kubeadm, kubeadm-cni, kube-proxy, pause, all`},
		{in: " ", errHas: "no flavor given"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSelection(tc.in)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || names(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", names(got), err, tc.want)
			}
		})
	}
}

func TestImageNames(t *testing.T) {
	v := Version("v1.26.0")
	for _, tc := range []struct {
		img  Image
		want string
	}{
		{FlavorImage(v, Flavors[0], "trixie"), "kubelet:v1.26.0-trixie"},
		{FlavorImage(v, Flavors[1], "trixie"), "kubelet:v1.26.0-flannel-trixie"},
		{FlavorImage(v, Flavors[2], "trixie"), "kubelet:v1.26.0-cni-trixie"},
		{FlavorImage(v, Flavors[3], "trixie"), "kubelet:v1.26.0-kubeadm-trixie"},
		{FlavorImage(v, Flavors[4], "bookworm"), "kubelet:v1.26.0-kubeadm-cni-bookworm"},
		{KubeProxyImage(v, "trixie"), "kube-proxy:v1.26.0-trixie"},
		{PauseImage("3.10.1"), "pause:3.10.1"},
	} {
		if got := tc.img.Ref(); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestComponentVersions(t *testing.T) {
	cri := []string{"v1.34.0", "v1.37.0", "v1.38.0-rc.0"}
	for _, tc := range []struct{ k8s, want, warning string }{
		{"v1.37.2", "v1.37.0", ""},
		{"v1.36.3", "v1.34.0", ""},
		{"v1.34.4", "v1.34.0", ""},
		// Nothing that old is served: the newest, saying so.
		{"v1.26.0", "v1.37.0", "crictl v1.37.0 for Kubernetes v1.26.0: the Go module proxy serves no cri-tools release of v1.26 or older (oldest: v1.34.0)"},
		{"v1.38.0-beta.0", "v1.37.0", ""},
	} {
		got, warning, err := CRIToolsVersion(Version(tc.k8s), cri)
		if err != nil || got != tc.want || warning != tc.warning {
			t.Errorf("CRIToolsVersion(%s) = %s, %q, %v; want %s, %q", tc.k8s, got, warning, err, tc.want, tc.warning)
		}
	}
	if _, _, err := CRIToolsVersion("v1.37.2", nil); err == nil {
		t.Error("no versions: want an error")
	}
	if got, err := NewestRelease("cni", []string{"v1.9.1", "v1.10.0", "v1.11.0-rc.1", "v0.8.6"}); err != nil || got != "v1.10.0" {
		t.Errorf("NewestRelease = %s, %v", got, err)
	}
}

func TestResolveVersions(t *testing.T) {
	got, err := ResolveVersions("supported", proxyVersions)
	if err != nil || fmt.Sprint(got) != "[v1.35.4 v1.36.3 v1.37.2]" {
		t.Fatalf("supported = %v, %v", got, err)
	}
	got, err = ResolveVersions("1.36", proxyVersions)
	if err != nil || fmt.Sprint(got) != "[v1.36.3]" {
		t.Fatalf("1.36 = %v, %v", got, err)
	}
	if _, err := ResolveVersions("supported", nil); err == nil {
		t.Fatal("no versions: want an error")
	}
}
