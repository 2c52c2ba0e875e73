package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// Version is a resolved Kubernetes release, e.g. v1.37.2.
type Version string

// Minor returns "37" for v1.37.2, as upstream's gitMinor.
func (v Version) Minor() string { return strings.Split(strings.TrimPrefix(string(v), "v"), ".")[1] }

// Major returns "1" for v1.37.2, as upstream's gitMajor.
func (v Version) Major() string { return strings.Split(strings.TrimPrefix(string(v), "v"), ".")[0] }

// StagingVersion is the version the k8s.io/* staging modules are published under for this
// release: v1.37.2 -> v0.37.2 (prerelease suffixes carry over).
func (v Version) StagingVersion() string { return "v0" + strings.TrimPrefix(string(v), "v"+v.Major()) }

var minorPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)$`)

// ResolveVersion turns a --kubernetes-version value into one of the available versions.
// "latest" is the newest release; "1.37" the newest patch of 1.37; "v1.37.2" (or "1.37.2") exactly that.
// Prereleases are chosen only when named exactly.
func ResolveVersion(requested string, available []string) (Version, error) {
	valid := make([]string, 0, len(available))
	for _, v := range available {
		// Build metadata (+incompatible) never names a Kubernetes release.
		if semver.IsValid(v) && semver.Build(v) == "" {
			valid = append(valid, v)
		}
	}
	semver.Sort(valid)
	requested = strings.TrimSpace(requested)

	switch {
	case requested == "" || requested == "latest":
		if r := newestRelease(valid, ""); r != "" {
			return Version(r), nil
		}
		return "", fmt.Errorf("no Kubernetes release found on the Go module proxy")
	case minorPattern.MatchString(requested):
		m := minorPattern.FindStringSubmatch(requested)
		prefix := "v" + m[1] + "." + m[2]
		if r := newestRelease(valid, prefix); r != "" {
			return Version(r), nil
		}
		return "", fmt.Errorf("kubernetes %s: no release of that minor on the Go module proxy; nearest: %s",
			requested, strings.Join(nearest(valid, prefix+".0"), ", "))
	default:
		want := requested
		if !strings.HasPrefix(want, "v") {
			want = "v" + want
		}
		if !semver.IsValid(want) || semver.Canonical(want) != want {
			return "", fmt.Errorf("kubernetes version %q: want latest, supported, MAJOR.MINOR (1.37) or vMAJOR.MINOR.PATCH (v1.37.2)", requested)
		}
		for _, v := range valid {
			if v == want {
				return Version(v), nil
			}
		}
		return "", &NotListedError{Version: Version(want), Nearest: nearest(valid, want)}
	}
}

// NotListedError says an exact version is missing from the module proxy's version list. The list
// can be incomplete (proxy.golang.org lists only versions someone has fetched), so the caller may
// still find the version by asking for it, and report this error if that fails too.
type NotListedError struct {
	Version Version
	Nearest []string
}

func (e *NotListedError) Error() string {
	return fmt.Sprintf("kubernetes %s is not on the Go module proxy; nearest: %s", e.Version, strings.Join(e.Nearest, ", "))
}

// newestRelease is the highest non-prerelease version in sorted, optionally within "vX.Y".
func newestRelease(sorted []string, minor string) string {
	for i := len(sorted) - 1; i >= 0; i-- {
		v := sorted[i]
		if semver.Prerelease(v) != "" {
			continue
		}
		if minor == "" || semver.MajorMinor(v) == minor {
			return v
		}
	}
	return ""
}

// nearest returns up to two releases below and two above want, for error messages.
func nearest(sorted []string, want string) []string {
	var releases []string
	for _, v := range sorted {
		if semver.Prerelease(v) == "" {
			releases = append(releases, v)
		}
	}
	i := sort.Search(len(releases), func(i int) bool { return semver.Compare(releases[i], want) >= 0 })
	lo, hi := max(i-2, 0), min(i+2, len(releases))
	out := releases[lo:hi]
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// CRIToolsVersion picks crictl's release for a Kubernetes version: cri-tools releases track
// Kubernetes minors, so the newest release whose minor is not newer than Kubernetes', else the
// newest release there is, with a warning that says so.
func CRIToolsVersion(k8s Version, available []string) (version, warning string, err error) {
	var releases []string
	for _, v := range available {
		if semver.IsValid(v) && semver.Prerelease(v) == "" && semver.Build(v) == "" {
			releases = append(releases, v)
		}
	}
	if len(releases) == 0 {
		return "", "", fmt.Errorf("no cri-tools release on the Go module proxy")
	}
	semver.Sort(releases)
	limit := semver.MajorMinor(string(k8s))
	for i := len(releases) - 1; i >= 0; i-- {
		if semver.Compare(semver.MajorMinor(releases[i]), limit) <= 0 {
			return releases[i], "", nil
		}
	}
	newest := releases[len(releases)-1]
	return newest, fmt.Sprintf("crictl %s for Kubernetes %s: the Go module proxy serves no cri-tools release of %s or older (oldest: %s)",
		newest, k8s, limit, releases[0]), nil
}

// NewestRelease is the newest non-prerelease version, for components that do not follow
// Kubernetes' versions (the CNI plugins).
func NewestRelease(module string, available []string) (string, error) {
	valid := slices.DeleteFunc(slices.Clone(available), func(v string) bool {
		return !semver.IsValid(v) || semver.Build(v) != ""
	})
	semver.Sort(valid)
	if r := newestRelease(valid, ""); r != "" {
		return r, nil
	}
	return "", fmt.Errorf("no release of %s on the Go module proxy", module)
}

// SupportedMinors is how many minors Kubernetes maintains at a time: the newest three.
const SupportedMinors = 3

// SupportedReleases returns the newest patch release of each of the newest supported minors,
// oldest first.
func SupportedReleases(available []string) []Version {
	valid := slices.DeleteFunc(slices.Clone(available), func(v string) bool {
		return !semver.IsValid(v) || semver.Build(v) != "" || semver.Prerelease(v) != ""
	})
	semver.Sort(valid)
	var out []Version
	for i := len(valid) - 1; i >= 0 && len(out) < SupportedMinors; i-- {
		if len(out) == 0 || semver.MajorMinor(string(out[len(out)-1])) != semver.MajorMinor(valid[i]) {
			out = append(out, Version(valid[i]))
		}
	}
	slices.Reverse(out)
	return out
}

// ResolveVersions is ResolveVersion plus "supported": every supported minor's newest patch.
func ResolveVersions(requested string, available []string) ([]Version, error) {
	if strings.TrimSpace(requested) == "supported" {
		if vs := SupportedReleases(available); len(vs) > 0 {
			return vs, nil
		}
		return nil, fmt.Errorf("no Kubernetes release found on the Go module proxy")
	}
	v, err := ResolveVersion(requested, available)
	if err != nil {
		return nil, err
	}
	return []Version{v}, nil
}
