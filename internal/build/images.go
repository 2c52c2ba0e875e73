package build

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/pause"
	"github.com/ckubelet/ckubelet/internal/rootfs"
	"github.com/ckubelet/ckubelet/internal/upx"
	"github.com/ckubelet/ckubelet/internal/wrappers"
)

// versionBuild holds the sources of one Kubernetes version's images.
type versionBuild struct {
	*builder
	version    catalog.Version
	kubernetes *gobuild.Source
	created    time.Time   // image creation time and kubelet layer mtime: the release's
	layers     *oci.Layers // for layers of this version's binaries
	criTools   *gobuild.Source
	cniPlugins *gobuild.Source
	pauseTag   string
}

// kubernetesCommands are the k8s.io/kubernetes packages the selection needs.
func (b *builder) kubernetesCommands() []string {
	var cmds []string
	s := b.opts.Selection
	if len(s.Flavors) > 0 {
		cmds = append(cmds, "./cmd/kubelet")
	}
	if slices.ContainsFunc(s.Flavors, func(f catalog.Flavor) bool { return f.Kubeadm }) {
		cmds = append(cmds, "./cmd/kubeadm")
	}
	if s.KubeProxy {
		cmds = append(cmds, "./cmd/kube-proxy")
	}
	return cmds
}

// prepareVersion downloads every source the selection needs for one Kubernetes version.
func (b *builder) prepareVersion(ctx context.Context, version catalog.Version) (*versionBuild, error) {
	v := &versionBuild{builder: b, version: version}
	var err error
	v.kubernetes, err = step(b, "download "+gobuild.KubernetesModule+"@"+string(version), func() (*gobuild.Source, string, error) {
		src, err := b.gocmd.PrepareKubernetes(ctx, b.opts.CacheDir, version)
		if err != nil {
			return nil, "", err
		}
		for _, cmd := range b.kubernetesCommands() {
			if err := b.gocmd.Fetch(ctx, src, cmd); err != nil {
				return nil, "", err
			}
		}
		return src, "", nil
	})
	if err != nil {
		return nil, err
	}
	if v.created, err = gobuild.BuildDate(v.kubernetes.Module); err != nil {
		return nil, err
	}
	v.layers = &oci.Layers{CacheDir: b.opts.CacheDir, Compression: b.opts.Compression, Time: v.created}
	s := b.opts.Selection
	if slices.ContainsFunc(s.Flavors, func(f catalog.Flavor) bool { return f.Kubeadm }) {
		if v.criTools, err = v.prepareComponent(ctx, gobuild.CRIToolsModule, func(available []string) (string, error) {
			crictl, warning, err := catalog.CRIToolsVersion(version, available)
			if warning != "" {
				b.warnings = append(b.warnings, warning)
			}
			return crictl, err
		}, b.gocmd.PrepareCRITools); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(s.Flavors, func(f catalog.Flavor) bool { return f.CNIPlugins != nil }) {
		if v.cniPlugins, err = v.prepareComponent(ctx, gobuild.CNIPluginsModule, func(available []string) (string, error) {
			return catalog.NewestRelease(gobuild.CNIPluginsModule, available)
		}, b.gocmd.PrepareCNIPlugins); err != nil {
			return nil, err
		}
	}
	if s.Pause {
		if v.pauseTag, err = pause.Tag(v.kubernetes.Module.Dir); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// prepareComponent picks a module's version and downloads it with prepare.
func (v *versionBuild) prepareComponent(ctx context.Context, module string, pick func([]string) (string, error),
	prepare func(ctx context.Context, cacheDir, version string) (*gobuild.Source, error)) (*gobuild.Source, error) {
	return step(v.builder, "download "+module, func() (*gobuild.Source, string, error) {
		available, err := v.gocmd.ListVersions(ctx, module)
		if err != nil {
			return nil, "", err
		}
		version, err := pick(available)
		if err != nil {
			return nil, "", err
		}
		src, err := prepare(ctx, v.opts.CacheDir, version)
		return src, version, err
	})
}

// compile builds one Go package of src for a platform as a visible step.
func (b *builder) compile(ctx context.Context, src *gobuild.Source, pkg string, p catalog.Platform, cgo bool) (gobuild.Binary, error) {
	return step(b, fmt.Sprintf("compile %s %s", gobuild.BinaryName(src, pkg), p), func() (gobuild.Binary, string, error) {
		bin, err := b.compiler.Build(ctx, b.opts.CacheDir, src, pkg, gobuild.Target{Platform: p, Cgo: cgo})
		return bin, cachedNote(bin.Cached), err
	})
}

// platformImage is one platform's image, waiting to join its name's index.
type platformImage struct {
	name     catalog.Image
	platform catalog.Platform
	image    v1.Image
	sbom     output.SBOM
}

// imageSet collects platform images in build order.
type imageSet []platformImage

// indexes groups the platform images by name into multi-arch indexes, keeping first-seen order.
// One name and platform built twice (pause, once per Kubernetes version of --kubernetes-version
// supported) must be the same image, which then appears once; two different ones are refused.
func (s imageSet) indexes() ([]output.Named, error) {
	var named []output.Named
	images := map[catalog.Image][]platformImage{}
	for _, pi := range s {
		if _, ok := images[pi.name]; !ok {
			named = append(named, output.Named{Image: pi.name})
		}
		dup, err := duplicate(images[pi.name], pi)
		if err != nil {
			return nil, err
		}
		if !dup {
			images[pi.name] = append(images[pi.name], pi)
		}
	}
	for i := range named {
		var imgs []v1.Image
		for _, pi := range images[named[i].Image] {
			imgs = append(imgs, pi.image)
			named[i].SBOMs = append(named[i].SBOMs, pi.sbom)
		}
		idx, err := oci.Index(imgs, nil)
		if err != nil {
			return nil, err
		}
		named[i].Index = idx
	}
	return named, nil
}

// duplicate reports whether pi's platform is among same's (images of one name) with the same
// digest, and refuses it with a different one.
func duplicate(same []platformImage, pi platformImage) (bool, error) {
	for _, o := range same {
		if o.platform != pi.platform {
			continue
		}
		a, err := o.image.Digest()
		if err != nil {
			return false, err
		}
		b, err := pi.image.Digest()
		if err != nil {
			return false, err
		}
		if a != b {
			return false, fmt.Errorf("%s for %s was built twice with different contents (%s and %s): an image name must name one image per platform", pi.name.Ref(), pi.platform, a, b)
		}
		return true, nil
	}
	return false, nil
}

// add assembles an image, describes it in an SBOM and queues it for its index.
func (v *versionBuild) add(set *imageSet, name catalog.Image, spec oci.ImageSpec, ul *Userland, binaries map[string]string) error {
	img, err := step(v.builder, fmt.Sprintf("assemble %s %s", name.Ref(), spec.Platform), func() (v1.Image, string, error) {
		img, err := oci.Image(spec)
		return img, "", err
	})
	if err != nil {
		return err
	}
	sb, err := imageSBOM(name, spec.Platform, img, spec.Created, v.opts.Debian.Suite, ul, binaries)
	if err != nil {
		return err
	}
	*set = append(*set, platformImage{name: name, platform: spec.Platform, image: img, sbom: sb})
	return nil
}

// binaryLayer is a layer holding built binaries at their image paths.
func (v *versionBuild) binaryLayer(ls *oci.Layers, what string, files map[string]string, data map[string][]byte) (oci.Layer, error) {
	var entries []oci.Entry
	for _, dst := range sortedKeys(files) {
		entries = append(entries, oci.File(dst, files[dst], 0o755))
	}
	for _, dst := range sortedKeys(data) {
		entries = append(entries, oci.Entry{Path: dst, Mode: 0o644, Data: data[dst]})
	}
	return v.layer(ls, what, entries)
}

// layer is a layer of the given entries, described in the image history as what.
func (v *versionBuild) layer(ls *oci.Layers, what string, entries []oci.Entry) (oci.Layer, error) {
	l, err := ls.Layer(entries)
	if err != nil {
		return oci.Layer{}, err
	}
	return oci.Layer{Layer: l, CreatedBy: "ckubelet: " + what}, nil
}

// componentLayers makes the layers of a component released on its own (crictl, the CNI plugins)
// with its own publication time instead of the Kubernetes release's, so that the layer, and the
// download, is the same for every Kubernetes version that ships the same component.
func (v *versionBuild) componentLayers(src *gobuild.Source) (*oci.Layers, error) {
	t, err := gobuild.BuildDate(src.Module)
	if err != nil {
		return nil, err
	}
	return &oci.Layers{CacheDir: v.opts.CacheDir, Compression: v.opts.Compression, Time: t}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// buildPlatform builds every selected image for one platform.
func (v *versionBuild) buildPlatform(ctx context.Context, p catalog.Platform, set *imageSet) error {
	s := v.opts.Selection
	if len(s.Flavors) > 0 {
		if err := v.kubeletImages(ctx, p, set); err != nil {
			return err
		}
	}
	if s.KubeProxy {
		if err := v.kubeProxyImage(ctx, p, set); err != nil {
			return err
		}
	}
	if s.Pause {
		return v.pauseImage(ctx, p, set)
	}
	return nil
}

// kubeletImages builds every selected kubelet flavor for one platform. Layers go from what
// changes least to what changes most: userland, kubelet, then the flavor's extras, so that
// flavors of one version share all but their extras.
func (v *versionBuild) kubeletImages(ctx context.Context, p catalog.Platform, set *imageSet) error {
	kubelet, err := v.compile(ctx, v.kubernetes, "./cmd/kubelet", p, v.opts.Cgo)
	if err != nil {
		return err
	}
	// A cgo kubelet links against glibc: its libraries must come with the userland.
	var needs []string
	if v.opts.Cgo {
		needs = []string{kubelet.Path}
	}
	ul, err := v.userlands.userland(ctx, p, "kubelet", rootfs.KubeletUserland(p.DebianArch()), needs)
	if err != nil {
		return err
	}
	kubeletLayer, err := v.binaryLayer(v.layers, fmt.Sprintf("%s %s from %s@%s %s", catalog.KubeletBinary, v.version, v.kubernetes.Module.Path, v.kubernetes.Module.Version, v.kubernetes.Module.Sum),
		map[string]string{catalog.KubeletBinary: kubelet.Path}, nil)
	if err != nil {
		return err
	}
	extras := &flavorExtras{versionBuild: v, platform: p}
	for _, f := range v.opts.Selection.Flavors {
		layers := []oci.Layer{ul.Layer, kubeletLayer}
		binaries := map[string]string{catalog.KubeletBinary: kubelet.Path}
		entrypoint := catalog.KubeletEntrypoint
		if f.Kubeadm {
			ls, bins, err := extras.kubeadm(ctx)
			if err != nil {
				return err
			}
			layers = append(layers, ls...)
			addAll(binaries, bins)
		}
		if f.CNIPlugins != nil {
			l, bins, err := extras.cni(ctx, f.CNIPlugins)
			if err != nil {
				return err
			}
			layers = append(layers, l)
			addAll(binaries, bins)
			entrypoint = append(slices.Clone(catalog.CNIInstallEntrypoint), catalog.KubeletEntrypoint...)
		}
		name := catalog.FlavorImage(v.version, f, v.opts.Debian.Suite)
		err := v.add(set, name, oci.ImageSpec{
			Platform:   p,
			Layers:     layers,
			Entrypoint: entrypoint,
			Env:        oci.DefaultEnv,
			Labels:     v.labels("kubelet", f.Name),
			Created:    v.created,
		}, ul, binaries)
		if err != nil {
			return err
		}
	}
	return nil
}

func addAll(dst, src map[string]string) {
	for k, val := range src {
		dst[k] = val
	}
}

// crictlConfig points crictl at containerd's socket, the runtime kubeadm finds first; CRI-O users
// pass --runtime-endpoint unix:///run/crio/crio.sock.
const crictlConfig = `runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
`

// flavorExtras builds, once per platform, the layers flavors add on top of kubelet.
type flavorExtras struct {
	*versionBuild
	platform      catalog.Platform
	kubeadmLayers []oci.Layer
	kubeadmBins   map[string]string
	cniLayers     map[string]oci.Layer
	cniBins       map[string]map[string]string
}

// kubeadm is the layers with crictl and its configuration, then kubeadm. They are two because
// crictl follows the Kubernetes minor and kubeadm every patch release: a node upgrading to the
// next patch pulls kubeadm's layer only.
func (e *flavorExtras) kubeadm(ctx context.Context) ([]oci.Layer, map[string]string, error) {
	if e.kubeadmLayers != nil {
		return e.kubeadmLayers, e.kubeadmBins, nil
	}
	kubeadm, err := e.compile(ctx, e.kubernetes, "./cmd/kubeadm", e.platform, false)
	if err != nil {
		return nil, nil, err
	}
	crictl, err := e.compile(ctx, e.criTools, "./cmd/crictl", e.platform, false)
	if err != nil {
		return nil, nil, err
	}
	kubeadmPath, err := e.pack(ctx, "kubeadm", kubeadm, upx.Probe{Args: []string{"version", "-o", "short"}, Want: "v1."})
	if err != nil {
		return nil, nil, err
	}
	crictlPath, err := e.pack(ctx, "crictl", crictl, upx.Probe{Args: []string{"--version"}, Want: "crictl version"})
	if err != nil {
		return nil, nil, err
	}
	crictlLayers, err := e.componentLayers(e.criTools)
	if err != nil {
		return nil, nil, err
	}
	crictlLayer, err := e.binaryLayer(crictlLayers, "crictl "+e.criTools.Module.Version,
		map[string]string{catalog.CrictlBinary: crictlPath}, map[string][]byte{catalog.CrictlConfig: []byte(crictlConfig)})
	if err != nil {
		return nil, nil, err
	}
	kubeadmLayer, err := e.binaryLayer(e.layers, "kubeadm "+string(e.version), map[string]string{catalog.KubeadmBinary: kubeadmPath}, nil)
	if err != nil {
		return nil, nil, err
	}
	// The SBOM reads module lists from the unpacked binaries: UPX hides Go's build info.
	bins := map[string]string{catalog.KubeadmBinary: kubeadm.Path, catalog.CrictlBinary: crictl.Path}
	e.kubeadmLayers, e.kubeadmBins = []oci.Layer{crictlLayer, kubeadmLayer}, bins
	return e.kubeadmLayers, bins, nil
}

// cni is the layer with the given CNI plugins (or all for catalog.AllCNIPlugins) and their
// installer. The plugins are one multicall binary with a link per plugin name: separate binaries
// would each carry their own Go runtime and libraries, about five times the bytes.
func (e *flavorExtras) cni(ctx context.Context, want []string) (oci.Layer, map[string]string, error) {
	key := fmt.Sprint(want)
	if l, ok := e.cniLayers[key]; ok {
		return l, e.cniBins[key], nil
	}
	available, err := gobuild.CNIPlugins(e.cniPlugins)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	names := want
	if slices.Equal(want, catalog.AllCNIPlugins) {
		names = gobuild.SortedNames(available)
	}
	multicall, err := gobuild.CNIMulticall(e.cniPlugins, available, names, e.opts.CacheDir)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	bin, err := e.compile(ctx, multicall, ".", e.platform, false)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	// Every plugin answers VERSION without a network; asking one through the multicall's
	// dispatcher proves both run.
	probe := upx.Probe{Args: []string{names[0]}, Env: []string{"CNI_COMMAND=VERSION"}, Want: "cniVersion"}
	packed, err := e.pack(ctx, "cni", bin, probe)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	installerSrc, err := gobuild.LocalSource(wrappers.CNIInstall(), wrappers.CNIInstallModule, e.opts.CacheDir)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	installer, err := e.compile(ctx, installerSrc, ".", e.platform, false)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	multicallPath := catalog.CNIBinDir + "/" + gobuild.MulticallName
	entries := []oci.Entry{
		oci.File(multicallPath, packed, 0o755),
		oci.File(catalog.CNIInstallBinary, installer.Path, 0o755),
	}
	for _, name := range names {
		entries = append(entries, oci.Entry{Path: catalog.CNIBinDir + "/" + name, Mode: fs.ModeSymlink | 0o777, Link: gobuild.MulticallName})
	}
	cniLayers, err := e.componentLayers(e.cniPlugins)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	l, err := e.layer(cniLayers, fmt.Sprintf("CNI plugins %s %v and their installer", e.cniPlugins.Module.Version, names), entries)
	if err != nil {
		return oci.Layer{}, nil, err
	}
	// The SBOM reads module lists from the unpacked binaries: UPX hides Go's build info.
	bins := map[string]string{multicallPath: bin.Path, catalog.CNIInstallBinary: installer.Path}
	if e.cniLayers == nil {
		e.cniLayers, e.cniBins = map[string]oci.Layer{}, map[string]map[string]string{}
	}
	e.cniLayers[key], e.cniBins[key] = l, bins
	return l, bins, nil
}

// pack UPX-packs a short-lived tool when --upx names it, and returns the path to ship: the
// packed binary once it has run for its platform, else the original, saying why.
func (e *flavorExtras) pack(ctx context.Context, tool string, bin gobuild.Binary, probe upx.Probe) (string, error) {
	if e.packer == nil || !e.opts.UPX[tool] {
		return bin.Path, nil
	}
	return step(e.builder, fmt.Sprintf("pack %s %s", bin.Name, e.platform), func() (string, string, error) {
		path, packed, reason := e.packer.Pack(ctx, bin.Path, e.platform, probe)
		if !packed {
			note := fmt.Sprintf("shipping %s for %s unpacked: %v", bin.Name, e.platform, reason)
			e.warnings = append(e.warnings, note)
			return path, note, nil
		}
		return path, "", nil
	})
}

// kubeProxyImage builds kube-proxy with exactly the userland its modes execute.
func (v *versionBuild) kubeProxyImage(ctx context.Context, p catalog.Platform, set *imageSet) error {
	proxy, err := v.compile(ctx, v.kubernetes, "./cmd/kube-proxy", p, false)
	if err != nil {
		return err
	}
	ul, err := v.userlands.userland(ctx, p, "kube-proxy", rootfs.KubeProxyUserland(p.DebianArch()), nil)
	if err != nil {
		return err
	}
	bins := map[string]string{catalog.KubeProxyBinary: proxy.Path}
	l, err := v.binaryLayer(v.layers, "kube-proxy "+string(v.version), bins, nil)
	if err != nil {
		return err
	}
	// /usr/local/bin/kube-proxy is where kubeadm's DaemonSet runs it from, as in upstream's image.
	return v.add(set, catalog.KubeProxyImage(v.version, v.opts.Debian.Suite), oci.ImageSpec{
		Platform:   p,
		Layers:     []oci.Layer{ul.Layer, l},
		Entrypoint: []string{catalog.KubeProxyBinary},
		Env:        oci.DefaultEnv,
		Labels:     v.labels("kube-proxy", ""),
		Created:    v.created,
	}, ul, bins)
}

// pauseImage builds upstream's pause from its C source, for nodes that can't pull it. It is
// stamped and labelled from the pause version alone, like the userland, so that every
// Kubernetes version with the same pause source gives the same pause image.
func (v *versionBuild) pauseImage(ctx context.Context, p catalog.Platform, set *imageSet) error {
	bin, err := step(v.builder, "compile pause "+p.String(), func() (string, string, error) {
		path, cached, err := v.pause(ctx, v.kubernetes.Module.Dir, v.opts.CacheDir, p)
		return path, cachedNote(cached), err
	})
	if err != nil {
		return err
	}
	t, err := userlandTime()
	if err != nil {
		return err
	}
	ls := &oci.Layers{CacheDir: v.opts.CacheDir, Compression: v.opts.Compression, Time: t}
	l, err := v.binaryLayer(ls, "pause "+v.pauseTag+" from Kubernetes' build/pause/linux/pause.c", map[string]string{catalog.PauseBinary: bin}, nil)
	if err != nil {
		return err
	}
	return v.add(set, catalog.PauseImage(v.pauseTag), oci.ImageSpec{
		Platform:   p,
		Layers:     []oci.Layer{l},
		Entrypoint: []string{catalog.PauseBinary},
		User:       catalog.PauseUser,
		Labels: map[string]string{
			"org.opencontainers.image.title":       "pause",
			"org.opencontainers.image.description": "pause " + v.pauseTag + ", Kubernetes' pod sandbox process, built by ckubelet",
			"org.opencontainers.image.version":     v.pauseTag,
			"org.opencontainers.image.source":      "https://github.com/kubernetes/kubernetes/tree/master/build/pause",
		},
		Created: t,
	}, nil, nil)
}

// labels are the image's org.opencontainers.image.* labels: what it is and exactly which verified
// inputs it was made from.
func (v *versionBuild) labels(title, flavor string) map[string]string {
	k8s := v.kubernetes.Module
	desc := fmt.Sprintf("%s %s with a Debian %s userland, built by ckubelet", title, v.version, v.opts.Debian.Suite)
	if flavor != "" && flavor != "kubelet" {
		desc = fmt.Sprintf("kubelet %s (%s flavor) with a Debian %s userland, built by ckubelet", v.version, flavor, v.opts.Debian.Suite)
	}
	l := map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": desc,
		"org.opencontainers.image.version":     string(v.version),
		"org.opencontainers.image.source":      "https://github.com/kubernetes/kubernetes",
		// Module zips carry no git commit; the checksum-database hash names the exact source tree.
		"org.opencontainers.image.revision": k8s.Path + "@" + k8s.Version + " " + k8s.Sum,
		catalog.KubernetesVersionLabel:      string(v.version),
	}
	if flavor != "" {
		l[catalog.FlavorLabel] = flavor
	}
	return l
}
