package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ckubelet/ckubelet/internal/catalog"
)

// Labels and annotations Measure reads. They are repeated here rather than imported from
// internal/build and internal/output so that reports stay a leaf package any stage can use.
const (
	versionLabel  = "dev.ckubelet.kubernetes.version"
	flavorLabel   = "dev.ckubelet.flavor"
	titleLabel    = "org.opencontainers.image.title"
	ociVersion    = "org.opencontainers.image.version"
	refNameAnnot  = "org.opencontainers.image.ref.name"
	unknownOSName = "unknown" // platform of buildkit-style attestation manifests
)

// Row is one image of one Kubernetes version measured on every platform.
type Row struct {
	Version string // Kubernetes version, e.g. v1.37.2
	// Image is the flavor for kubelet images ("kubelet", "flannel", "cni", "kubeadm",
	// "kubeadm-cni"), else the image title ("kube-proxy", "pause").
	Image string
	Sizes map[string]Size // by platform, e.g. "linux/amd64"
}

// imageOrder is the order reports list images in: the kubelet flavors from smallest to largest,
// then the images that run beside kubelet.
var imageOrder = []string{"kubelet", "flannel", "cni", "kubeadm", "kubeadm-cni", "kube-proxy", "pause"}

// platformOrder is the order of the platform columns, catalog's; platforms not listed follow, sorted.
var platformOrder = func() []string {
	var out []string
	for _, p := range catalog.Supported {
		out = append(out, p.String())
	}
	return out
}()

// Measure reads every image of an OCI layout directory and measures each of its platform images
// (see ImageSize). Images are identified by their config labels, not by their ref names, so that a
// retagged image is still reported as what it is; SBOM and other artifact manifests are skipped.
// Rows are sorted by Kubernetes version, then kubelet, flannel, cni, kubeadm, kubeadm-cni,
// kube-proxy, pause.
func Measure(layoutDir string) ([]Row, error) {
	p, err := layout.FromPath(layoutDir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", layoutDir, err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", layoutDir, err)
	}
	m := measurer{rows: map[rowKey]*Row{}, shared: map[rowKey]*Row{}, from: map[platformKey]string{}, extracted: map[v1.Hash]int64{}}
	if err := m.index(root, ""); err != nil {
		return nil, fmt.Errorf("measuring %s: %w", layoutDir, err)
	}
	m.addShared()
	rows := make([]Row, 0, len(m.rows))
	for _, r := range m.rows {
		rows = append(rows, *r)
	}
	return sorted(rows), nil
}

type rowKey struct{ version, image string }

type platformKey struct {
	rowKey
	platform string
}

type measurer struct {
	rows map[rowKey]*Row
	// shared are images of no one Kubernetes version (pause, labelled with its own version
	// only), by their own version; every version's table lists them.
	shared    map[rowKey]*Row
	from      map[platformKey]string // the ref that supplied each size, for conflict messages
	extracted map[v1.Hash]int64      // shared-layer cache, see imageSize
}

// index walks an image index; ref is the name the enclosing index.json entry gave it.
func (m *measurer) index(idx v1.ImageIndex, ref string) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		name := ref
		if n := d.Annotations[refNameAnnot]; n != "" {
			name = n
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("%s: %w", describe(name, d), err)
			}
			if err := m.index(child, name); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			if isArtifact(d.ArtifactType) || (d.Platform != nil && d.Platform.OS == unknownOSName) {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("%s: %w", describe(name, d), err)
			}
			if err := m.image(img, d.Platform, name); err != nil {
				return fmt.Errorf("%s: %w", describe(name, d), err)
			}
		}
		// Anything else (a bare blob, an unknown media type) is not an image to measure.
	}
	return nil
}

// isArtifact tells an artifact manifest from an image by its artifactType. go-containerregistry
// fills a plain image's descriptor artifactType with its config media type, so only other values
// mark an artifact.
func isArtifact(artifactType string) bool {
	switch types.MediaType(artifactType) {
	case "", types.OCIConfigJSON, types.DockerConfigJSON:
		return false
	}
	return true
}

func (m *measurer) image(img v1.Image, platform *v1.Platform, ref string) error {
	mf, err := img.Manifest()
	if err != nil {
		return err
	}
	// Descriptors written by other tools may lack artifactType; the manifest is authoritative.
	if isArtifact(mf.ArtifactType) || isArtifact(string(mf.Config.MediaType)) {
		return nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if platform == nil || platform.OS == "" {
		platform = cf.Platform()
	}
	if platform == nil || platform.OS == "" {
		return fmt.Errorf("no platform in its index entry or config")
	}
	labels := cf.Config.Labels
	k := platformKey{rowKey: rowKey{version: labels[versionLabel], image: cmp.Or(labels[flavorLabel], labels[titleLabel])}, platform: platform.String()}
	rows := m.rows
	if k.version == "" && labels[titleLabel] != "" && labels[ociVersion] != "" {
		k.version, rows = labels[ociVersion], m.shared
	}
	if k.version == "" || k.image == "" {
		return fmt.Errorf("not a ckubelet image: no %s and %s or %s labels", versionLabel, flavorLabel, titleLabel)
	}
	s, err := imageSize(img, m.extracted)
	if err != nil {
		return err
	}
	s.Platform = k.platform
	r := rows[k.rowKey]
	if r == nil {
		r = &Row{Version: k.version, Image: k.image, Sizes: map[string]Size{}}
		rows[k.rowKey] = r
	}
	if prev, ok := r.Sizes[k.platform]; ok {
		if prev.Digest == s.Digest {
			return nil // the same image under two names
		}
		// E.g. one layout holding the same version on two Debian suites: averaging or picking
		// one would publish a number nobody built.
		return fmt.Errorf("%s %s %s is both %s (%s) and %s (%s)", k.version, k.image, k.platform, m.from[k], prev.Digest, ref, s.Digest)
	}
	r.Sizes[k.platform] = s
	m.from[k] = ref
	return nil
}

// addShared lists each shared image under every Kubernetes version measured, or under its own
// version when the layout holds nothing else. Nothing in a shared image says which Kubernetes
// versions use it, so when a layout holds several of one title (pause 3.9 and 3.10.2), each is
// listed with its own version in its name.
func (m *measurer) addShared() {
	var versions []string
	for k := range m.rows {
		if !slices.Contains(versions, k.version) {
			versions = append(versions, k.version)
		}
	}
	titles := map[string]int{}
	for k := range m.shared {
		titles[k.image]++
	}
	for k, r := range m.shared {
		if len(versions) == 0 {
			m.rows[k] = r
			continue
		}
		image := r.Image
		if titles[k.image] > 1 {
			image += ":" + k.version
		}
		for _, v := range versions {
			m.rows[rowKey{version: v, image: image}] = &Row{Version: v, Image: image, Sizes: r.Sizes}
		}
	}
}

func describe(ref string, d v1.Descriptor) string {
	if ref == "" {
		return d.Digest.String()
	}
	return ref + "@" + d.Digest.String()
}

// compareImages orders images by imageOrder; unknown images follow, by name.
func compareImages(a, b string) int {
	return cmp.Or(cmp.Compare(orderIndex(imageOrder, a), orderIndex(imageOrder, b)), strings.Compare(a, b))
}

// comparePlatforms orders platforms by platformOrder; unknown platforms follow, by name.
func comparePlatforms(a, b string) int {
	return cmp.Or(cmp.Compare(orderIndex(platformOrder, a), orderIndex(platformOrder, b)), strings.Compare(a, b))
}

func orderIndex(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// compareVersions orders Kubernetes versions by semantic version (v1.9.0 < v1.10.0), a release
// after its pre-releases; strings that are not versions follow, by text. The module keeps
// golang.org/x/mod only as an indirect dependency, so this package does not rely on it.
func compareVersions(a, b string) int {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		return cmp.Or(-cmp.Compare(boolInt(oka), boolInt(okb)), strings.Compare(a, b))
	}
	for i := range 3 {
		if c := cmp.Compare(va.num[i], vb.num[i]); c != 0 {
			return c
		}
	}
	switch {
	case va.pre == "" && vb.pre == "":
		return 0
	case va.pre == "":
		return 1
	case vb.pre == "":
		return -1
	}
	pa, pb := strings.Split(va.pre, "."), strings.Split(vb.pre, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, errA := strconv.ParseUint(pa[i], 10, 64)
		nb, errB := strconv.ParseUint(pb[i], 10, 64)
		var c int
		switch {
		case errA == nil && errB == nil:
			c = cmp.Compare(na, nb)
		case errA == nil: // numeric identifiers sort before alphanumeric ones
			c = -1
		case errB == nil:
			c = 1
		default:
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(pa), len(pb))
}

type version struct {
	num [3]uint64
	pre string
}

func parseVersion(s string) (version, bool) {
	var v version
	s, ok := strings.CutPrefix(s, "v")
	if !ok {
		return v, false
	}
	s, _, _ = strings.Cut(s, "+") // build metadata does not order
	s, v.pre, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, false
		}
		v.num[i] = n
	}
	return v, true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
