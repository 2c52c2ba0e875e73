// Package catalog says what can be built: Kubernetes versions, platforms, image names and tags.
// It is pure: everything it needs from the outside world is passed in.
package catalog

import (
	"fmt"
	"strings"
)

// Platform is an OCI platform this project builds for.
type Platform struct {
	OS, Arch, Variant string
}

// Supported lists the platforms ckubelet builds, in the default order.
var Supported = []Platform{
	{OS: "linux", Arch: "amd64"},
	{OS: "linux", Arch: "arm64"},
	{OS: "linux", Arch: "arm", Variant: "v7"},
}

// DefaultPlatforms is the --platform default.
const DefaultPlatforms = "linux/amd64,linux/arm64,linux/arm/v7"

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// GOARCH and GOARM give the Go cross-compilation settings for the platform.
func (p Platform) GOARCH() string { return p.Arch }

// GOARM is empty except on arm, where the OCI variant "v7" is GOARM=7.
func (p Platform) GOARM() string { return strings.TrimPrefix(p.Variant, "v") }

// DebianArch is the Debian architecture holding this platform's packages.
func (p Platform) DebianArch() string {
	if p.Arch == "arm" {
		return "armhf"
	}
	return p.Arch
}

// ParsePlatforms parses a comma-separated platform list. Duplicates are dropped; order is kept.
func ParsePlatforms(list string) ([]Platform, error) {
	var out []Platform
	seen := map[Platform]bool{}
	for _, field := range strings.Split(list, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		p, err := ParsePlatform(field)
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platform given; supported: %s", supportedList())
	}
	return out, nil
}

// ParsePlatform parses one platform; "linux/arm" means linux/arm/v7, the only arm variant built.
func ParsePlatform(s string) (Platform, error) {
	if s == "linux/arm" {
		s = "linux/arm/v7"
	}
	for _, p := range Supported {
		if p.String() == s {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("unsupported platform %q; supported: %s", s, supportedList())
}

func supportedList() string {
	names := make([]string, len(Supported))
	for i, p := range Supported {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}
