package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Flavor is a variant of the kubelet image: kubelet plus optional extras.
type Flavor struct {
	Name string
	// CNIPlugins lists the CNI plugins the image carries and installs onto the host; nil for none.
	CNIPlugins []string
	// Kubeadm adds kubeadm and crictl.
	Kubeadm bool
}

// FlannelPlugins are the reference plugins flannel's CNI plugin delegates to. The flannel plugin
// itself is installed by flannel's own DaemonSet (its install-cni init container).
var FlannelPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// AllCNIPlugins marks a flavor carrying every reference plugin of the CNI plugins release.
var AllCNIPlugins = []string{"*"}

// Flavors are the kubelet image flavors, in the order builds and reports list them.
var Flavors = []Flavor{
	{Name: "kubelet"},
	{Name: "flannel", CNIPlugins: FlannelPlugins},
	{Name: "cni", CNIPlugins: AllCNIPlugins},
	{Name: "kubeadm", Kubeadm: true},
	{Name: "kubeadm-cni", Kubeadm: true, CNIPlugins: AllCNIPlugins},
}

// Selection is what a build produces for each Kubernetes version.
type Selection struct {
	Flavors   []Flavor
	KubeProxy bool
	Pause     bool
}

// DefaultSelection is the --flavor default.
const DefaultSelection = "kubelet"

// ParseSelection parses --flavor: a comma list of flavor names, "kube-proxy", "pause", or "all"
// for the five flavors plus kube-proxy and pause.
func ParseSelection(list string) (Selection, error) {
	var s Selection
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case "all":
			s.Flavors, s.KubeProxy, s.Pause = slices.Clone(Flavors), true, true
		case "kube-proxy":
			s.KubeProxy = true
		case "pause":
			s.Pause = true
		default:
			i := slices.IndexFunc(Flavors, func(f Flavor) bool { return f.Name == name })
			if i < 0 {
				return Selection{}, fmt.Errorf("unknown flavor %q; known: %s, kube-proxy, pause, all", name, flavorNames())
			}
			if !slices.ContainsFunc(s.Flavors, func(f Flavor) bool { return f.Name == name }) {
				s.Flavors = append(s.Flavors, Flavors[i])
			}
		}
	}
	if len(s.Flavors) == 0 && !s.KubeProxy && !s.Pause {
		return Selection{}, fmt.Errorf("no flavor given; known: %s, kube-proxy, pause, all", flavorNames())
	}
	// Keep the canonical order whatever order the user typed.
	slices.SortFunc(s.Flavors, func(a, b Flavor) int { return flavorIndex(a.Name) - flavorIndex(b.Name) })
	return s, nil
}

func flavorIndex(name string) int {
	return slices.IndexFunc(Flavors, func(f Flavor) bool { return f.Name == name })
}

func flavorNames() string {
	names := make([]string, len(Flavors))
	for i, f := range Flavors {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// FlavorImage names a flavor's image: kubelet:v1.37.2-trixie, kubelet:v1.37.2-flannel-trixie, …
func FlavorImage(v Version, f Flavor, base string) Image {
	if f.Name == "kubelet" {
		return KubeletImage(v, base)
	}
	return Image{Repository: "kubelet", Tag: fmt.Sprintf("%s-%s-%s", v, f.Name, base)}
}

// KubeProxyImage names the kube-proxy image of a version.
func KubeProxyImage(v Version, base string) Image {
	return Image{Repository: "kube-proxy", Tag: fmt.Sprintf("%s-%s", v, base)}
}

// PauseImage names the pause image by upstream's pause tag (build/pause/Makefile).
func PauseImage(tag string) Image { return Image{Repository: "pause", Tag: tag} }
