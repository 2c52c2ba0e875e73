package gobuild

import (
	"strings"
	"testing"
	"time"
)

const upstreamGoMod = `module k8s.io/kubernetes

go 1.26.0

require (
	k8s.io/api v0.0.0
	k8s.io/klog/v2 v2.130.1
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/cri-api => ./staging/src/k8s.io/cri-api
)
`

func TestRewriteStagingReplaces(t *testing.T) {
	for _, tc := range []struct {
		name, in, version string
		want              []string
		notWant           []string
		errHas            string
	}{
		{
			name: "release", in: upstreamGoMod, version: "v0.37.2",
			want:    []string{"k8s.io/api => k8s.io/api v0.37.2", "k8s.io/cri-api => k8s.io/cri-api v0.37.2", "k8s.io/klog/v2 v2.130.1", "\tk8s.io/api v0.37.2\n"},
			notWant: []string{"./staging", "v0.0.0"},
		},
		{
			name: "prerelease", in: upstreamGoMod, version: "v0.38.0-beta.0",
			want: []string{"k8s.io/api => k8s.io/api v0.38.0-beta.0"},
		},
		{
			name: "not kubernetes", in: "module example.com/x\n\ngo 1.26\n", version: "v0.1.0",
			errHas: "no ./staging replaces",
		},
		{name: "garbage", in: "module (", version: "v0.1.0", errHas: "go.mod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RewriteStagingReplaces([]byte(tc.in), tc.version)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got err %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("missing %q in\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(out), w) {
					t.Errorf("unexpected %q in\n%s", w, out)
				}
			}
		})
	}
}

func TestVersionLDFlags(t *testing.T) {
	date := time.Date(2026, 10, 27, 12, 1, 4, 0, time.UTC)
	got := strings.Join(VersionLDFlags("v1.37.2", date), " ")
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=v1.37.2",
		"-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=37",
		"-X k8s.io/client-go/pkg/version.buildDate=2026-10-27T12:01:04Z",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %s", want, got)
		}
	}
	if strings.Contains(got, "gitCommit") {
		t.Errorf("gitCommit stamped without a known commit: %s", got)
	}
}

func TestBuildDate(t *testing.T) {
	m := &Module{Path: "k8s.io/kubernetes", Version: "v1.37.2", Time: "2026-10-27T12:01:04Z"}
	for _, tc := range []struct {
		name, epoch, want, errHas string
	}{
		{name: "from module", want: "2026-10-27T12:01:04Z"},
		{name: "SOURCE_DATE_EPOCH", epoch: "1700000000", want: "2023-11-14T22:13:20Z"},
		{name: "bad epoch", epoch: "yesterday", errHas: "SOURCE_DATE_EPOCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			got, err := BuildDate(m)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if err != nil || got.Format(time.RFC3339) != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}
