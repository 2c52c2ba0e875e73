// Package catalog says what can be built: Kubernetes versions, platforms, image names and tags.
// It is pure: everything it needs from the outside world is passed in.
package catalog

import (
	"debug/elf"
	"fmt"
	"strings"
)

// Platform is an OCI platform this project builds for.
type Platform struct {
	OS, Arch, Variant string
}

// arch is everything the stages need to know about one platform, defined once: Go's, Debian's,
// the GNU toolchain's, ELF's and qemu-user's name for it.
type arch struct {
	platform Platform
	debian   string // Debian architecture, whose packages the userland is cut from
	triplet  string // GNU triplet: the cross compiler is <triplet>-gcc, libraries live in /usr/lib/<triplet>
	qemu     string // qemu-user runs it as qemu-<qemu>-static
	qemuCPU  string // the oldest CPU the platform promises, for qemu-user probes ("" is qemu's default)
	machine  elf.Machine
	class    elf.Class
	lib64    bool // glibc's ELF interpreter is /lib64/…
}

// arches are the platforms ckubelet builds, the default ones first.
var arches = []arch{
	{Platform{"linux", "amd64", ""}, "amd64", "x86_64-linux-gnu", "x86_64", "", elf.EM_X86_64, elf.ELFCLASS64, true},
	{Platform{"linux", "arm64", ""}, "arm64", "aarch64-linux-gnu", "aarch64", "cortex-a53", elf.EM_AARCH64, elf.ELFCLASS64, false},
	// Debian armhf is ARMv7-A with VFPv3-D16, hard float: exactly OCI linux/arm/v7, GOARM=7.
	{Platform{"linux", "arm", "v7"}, "armhf", "arm-linux-gnueabihf", "arm", "cortex-a7", elf.EM_ARM, elf.ELFCLASS32, false},
	{Platform{"linux", "riscv64", ""}, "riscv64", "riscv64-linux-gnu", "riscv64", "", elf.EM_RISCV, elf.ELFCLASS64, false},
	{Platform{"linux", "ppc64le", ""}, "ppc64el", "powerpc64le-linux-gnu", "ppc64le", "", elf.EM_PPC64, elf.ELFCLASS64, false},
	{Platform{"linux", "s390x", ""}, "s390x", "s390x-linux-gnu", "s390x", "", elf.EM_S390, elf.ELFCLASS64, false},
}

// Supported lists the platforms ckubelet builds, the default ones first.
var Supported = func() []Platform {
	out := make([]Platform, len(arches))
	for i, a := range arches {
		out[i] = a.platform
	}
	return out
}()

// DefaultPlatforms is the --platform default: the original project's three. "all" is every
// supported platform.
const DefaultPlatforms = "linux/amd64,linux/arm64,linux/arm/v7"

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func (p Platform) arch() arch {
	for _, a := range arches {
		if a.platform == p {
			return a
		}
	}
	return arch{}
}

// GOARCH and GOARM give the Go cross-compilation settings for the platform.
func (p Platform) GOARCH() string { return p.Arch }

// GOARM is empty except on arm, where the OCI variant "v7" is GOARM=7.
func (p Platform) GOARM() string { return strings.TrimPrefix(p.Variant, "v") }

// DebianArch is the Debian architecture holding this platform's packages.
func (p Platform) DebianArch() string { return p.arch().debian }

// Triplet is the GNU triplet of the platform's toolchain and multiarch library directory.
func (p Platform) Triplet() string { return p.arch().triplet }

// Qemu is the qemu-user program that runs the platform's binaries on another host, and the CPU
// model to emulate so that instructions newer than the platform's baseline fail ("" for
// qemu's default).
func (p Platform) Qemu() (program, cpu string) {
	a := p.arch()
	return "qemu-" + a.qemu + "-static", a.qemuCPU
}

// ELF is the machine and class of the platform's executables.
func (p Platform) ELF() (elf.Machine, elf.Class) {
	a := p.arch()
	return a.machine, a.class
}

// Lib64 says whether glibc's ELF interpreter lives in /lib64, so an image needs that alias.
func (p Platform) Lib64() bool { return p.arch().lib64 }

// ForDebianArch is the platform of a Debian architecture.
func ForDebianArch(debArch string) (Platform, bool) {
	for _, a := range arches {
		if a.debian == debArch {
			return a.platform, true
		}
	}
	return Platform{}, false
}

// ParsePlatforms parses a comma-separated platform list, or "all". Duplicates are dropped;
// order is kept.
func ParsePlatforms(list string) ([]Platform, error) {
	if strings.TrimSpace(list) == "all" {
		return Supported, nil
	}
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
	return Platform{}, fmt.Errorf("unsupported platform %q; supported: %s, or all", s, supportedList())
}

func supportedList() string {
	names := make([]string, len(Supported))
	for i, p := range Supported {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}
