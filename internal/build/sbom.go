package build

import (
	"fmt"
	"maps"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/sbom"
)

// imageSBOM describes one platform image: the Debian packages its files came from and the Go
// modules of every binary it ships.
func imageSBOM(name catalog.Image, p catalog.Platform, img v1.Image, created time.Time, suite string, ul *Userland, binaries map[string]string) (output.SBOM, error) {
	desc, err := partial.Descriptor(img)
	if err != nil {
		return output.SBOM{}, err
	}
	in := sbom.Input{
		ImageName:   name.Ref(),
		Platform:    p.String(),
		ImageDigest: desc.Digest,
		Created:     created,
		Distro:      suite,
		Binaries:    map[string]string{},
	}
	if ul != nil {
		maps.Copy(in.Binaries, ul.Binaries)
		in.Programs = ul.Programs
	}
	maps.Copy(in.Binaries, binaries)
	for _, pkg := range ul.contributing() {
		in.Debian = append(in.Debian, sbom.DebianPackage{Name: pkg.Name, Version: pkg.Version, Arch: pkg.Architecture, SHA256: pkg.SHA256})
	}
	data, err := sbom.SPDX(in)
	if err != nil {
		return output.SBOM{}, fmt.Errorf("SBOM of %s %s: %w", name.Ref(), p, err)
	}
	artifact, err := sbom.Artifact(data, *desc)
	if err != nil {
		return output.SBOM{}, err
	}
	file := fmt.Sprintf("%s_%s_%s.spdx.json", name.Repository, name.Tag, strings.ReplaceAll(p.String(), "/", "-"))
	return output.SBOM{FileName: file, Data: data, Artifact: artifact}, nil
}
