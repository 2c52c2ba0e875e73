//go:build integration

package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/containerdtest"
	"github.com/ckubelet/ckubelet/internal/output"
)

// platformImage returns the image of one platform of a named result image.
func imageFor(t *testing.T, n *output.Named, platform string) v1.Image {
	t.Helper()
	im, err := n.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.String() == platform {
			img, err := n.Index.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("%s has no %s image", n.Image.Ref(), platform)
	return nil
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}

// executables lists the programs an extracted image ships where images put them: executable
// files, and in /opt/cni/bin the links naming the multicall binary's plugins.
func executables(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"usr/bin", "usr/local/bin", "opt/cni/bin", "."} {
		des, _ := os.ReadDir(filepath.Join(root, dir))
		for _, de := range des {
			p := filepath.Join(root, dir, de.Name())
			if de.Type()&os.ModeSymlink != 0 && dir == "opt/cni/bin" {
				target, err := os.Readlink(p)
				if err != nil || strings.Contains(target, "/") {
					t.Fatalf("%s: link %q, want one to a sibling", p, target)
				}
				p = filepath.Join(root, dir, target)
			}
			if info, err := os.Lstat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
				out = append(out, filepath.Join("/", dir, de.Name()))
			}
		}
	}
	slices.Sort(out)
	return out
}

var (
	kubeadmBins = []string{"/usr/bin/crictl", "/usr/bin/kubeadm"}
	flannelBins = []string{"/opt/cni/bin/bridge", "/opt/cni/bin/cni-plugins", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback", "/opt/cni/bin/portmap", "/usr/bin/cni-install"}
	allCNIBins  = []string{
		"/opt/cni/bin/bandwidth", "/opt/cni/bin/bridge", "/opt/cni/bin/cni-plugins", "/opt/cni/bin/dhcp", "/opt/cni/bin/dummy", "/opt/cni/bin/firewall",
		"/opt/cni/bin/host-device", "/opt/cni/bin/host-local", "/opt/cni/bin/ipvlan", "/opt/cni/bin/loopback",
		"/opt/cni/bin/macvlan", "/opt/cni/bin/portmap", "/opt/cni/bin/ptp", "/opt/cni/bin/sbr", "/opt/cni/bin/static",
		"/opt/cni/bin/tap", "/opt/cni/bin/tuning", "/opt/cni/bin/vlan", "/opt/cni/bin/vrf", "/usr/bin/cni-install",
	}
)

func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}

// TestAllFlavors builds every image of one version for amd64 and checks each one's tag, the
// exact set of programs it ships, its entrypoint, and which layers flavors share.
func TestAllFlavors(t *testing.T) {
	o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	o.Selection, _ = catalog.ParseSelection("all")
	res := buildWith(t, o)

	var refs []string
	for _, n := range res.Images {
		refs = append(refs, n.Image.Ref())
	}
	pauseRef := refs[len(refs)-1]
	wantRefs := []string{
		"kubelet:v1.37.2-trixie", "kubelet:v1.37.2-flannel-trixie", "kubelet:v1.37.2-cni-trixie",
		"kubelet:v1.37.2-kubeadm-trixie", "kubelet:v1.37.2-kubeadm-cni-trixie", "kube-proxy:v1.37.2-trixie", pauseRef,
	}
	if !slices.Equal(refs, wantRefs) || !strings.HasPrefix(pauseRef, "pause:3.") {
		t.Fatalf("images %v, want %v", refs, wantRefs)
	}

	userland := []string{"/usr/bin/mount", "/usr/bin/umount"}
	for _, tc := range []struct {
		ref        string
		want       []string
		entrypoint string
	}{
		{"kubelet:v1.37.2-trixie", union(userland, []string{"/usr/bin/kubelet"}), "/usr/bin/kubelet"},
		{"kubelet:v1.37.2-flannel-trixie", union(userland, []string{"/usr/bin/kubelet"}, flannelBins), "/usr/bin/cni-install"},
		{"kubelet:v1.37.2-cni-trixie", union(userland, []string{"/usr/bin/kubelet"}, allCNIBins), "/usr/bin/cni-install"},
		{"kubelet:v1.37.2-kubeadm-trixie", union(userland, []string{"/usr/bin/kubelet"}, kubeadmBins), "/usr/bin/kubelet"},
		{"kubelet:v1.37.2-kubeadm-cni-trixie", union(userland, []string{"/usr/bin/kubelet"}, kubeadmBins, allCNIBins), "/usr/bin/cni-install"},
		{"kube-proxy:v1.37.2-trixie", []string{"/usr/local/bin/kube-proxy"}, "/usr/local/bin/kube-proxy"},
		{pauseRef, []string{"/pause"}, "/pause"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			img := imageFor(t, res.Image(tc.ref), "linux/amd64")
			if got := executables(t, extract(t, img)); !slices.Equal(got, tc.want) {
				t.Errorf("programs\n got %v\nwant %v", got, tc.want)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			ep := strings.Join(cf.Config.Entrypoint, " ")
			if cf.Config.Entrypoint[0] != tc.entrypoint || strings.Contains(ep, "--network-plugin") {
				t.Errorf("entrypoint %q", ep)
			}
		})
	}

	layers := map[string][]string{}
	for _, n := range res.Images {
		layers[n.Image.Ref()] = layerDigests(t, imageFor(t, &n, "linux/amd64"))
	}
	kubelet, flannel, cni := layers["kubelet:v1.37.2-trixie"], layers["kubelet:v1.37.2-flannel-trixie"], layers["kubelet:v1.37.2-cni-trixie"]
	kubeadm, kubeadmCNI := layers["kubelet:v1.37.2-kubeadm-trixie"], layers["kubelet:v1.37.2-kubeadm-cni-trixie"]
	// Userland and kubelet are shared by every flavor; each flavor adds only its extras: one
	// layer of CNI plugins, or crictl's and kubeadm's (kept apart for patch upgrades).
	for name, extras := range map[string]int{"flannel": 1, "cni": 1, "kubeadm": 2, "kubeadm-cni": 3} {
		if l := layers["kubelet:v1.37.2-"+name+"-trixie"]; !slices.Equal(l[:2], kubelet) || len(l) != 2+extras {
			t.Errorf("%s layers %v do not extend kubelet's %v by %d layers of extras", name, l, kubelet, extras)
		}
	}
	if !slices.Equal(kubeadmCNI, append(slices.Clone(kubeadm), cni[2])) {
		t.Errorf("kubeadm-cni %v is not kubeadm %v plus cni's extras %s", kubeadmCNI, kubeadm, cni[2])
	}
	if flannel[2] == cni[2] {
		t.Error("flannel and cni share their plugin layer")
	}
}

// previousVersion is the patch release before testVersion: upgrades go from it to testVersion.
const previousVersion = "v1.37.1"

// TestUserlandSharedAcrossVersions builds kubelet, the cni flavor and pause for two Kubernetes
// versions in one build: a node upgrading downloads the new kubelet layer only, and pause, the
// same source in both, is one image.
func TestUserlandSharedAcrossVersions(t *testing.T) {
	o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	o.KubernetesVersion = testVersion + "," + previousVersion
	o.Selection, _ = catalog.ParseSelection("kubelet,cni,pause")
	res := buildWith(t, o)
	var refs []string
	for _, n := range res.Images {
		refs = append(refs, n.Image.Ref())
	}
	want := []string{"kubelet:" + testVersion + "-trixie", "kubelet:" + testVersion + "-cni-trixie", "pause:3.10.2",
		"kubelet:" + previousVersion + "-trixie", "kubelet:" + previousVersion + "-cni-trixie"}
	if !slices.Equal(refs, want) {
		t.Fatalf("images %q, want %q", refs, want)
	}
	im, err := res.Images[2].Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || len(res.Images[2].SBOMs) != 1 {
		t.Errorf("pause: %d manifests, %d SBOMs; want one image for both versions", len(im.Manifests), len(res.Images[2].SBOMs))
	}
	a, b := &res.Images[0], &res.Images[3]
	la, lb := layerDigests(t, imageFor(t, a, "linux/amd64")), layerDigests(t, imageFor(t, b, "linux/amd64"))
	if la[0] != lb[0] || la[1] == lb[1] {
		t.Fatalf("%s layers %v, %s layers %v: want the same userland and different kubelets", testVersion, la, previousVersion, lb)
	}
	// The CNI plugins are released on their own: the same release is the same layer in both.
	ca, cb := layerDigests(t, imageFor(t, &res.Images[1], "linux/amd64")), layerDigests(t, imageFor(t, &res.Images[4], "linux/amd64"))
	if ca[2] != cb[2] {
		t.Errorf("CNI layer %s in %s, %s in %s: want one layer", ca[2], testVersion, cb[2], previousVersion)
	}
}

// TestCNIFlavorInstallsPluginsInContainerd runs the cni flavor in a real containerd with a host
// directory mounted at /host/opt/cni/bin: the plugins land there, then kubelet runs.
func TestCNIFlavorInstallsPluginsInContainerd(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "cni.tar")
	o := options(t, "docker-archive:"+archive, "linux/amd64")
	o.Selection, _ = catalog.ParseSelection("cni")
	res := buildWith(t, o)
	d := containerdtest.Start(t)
	refs := d.Import(t, archive)
	hostBin := t.TempDir()
	foreign := filepath.Join(hostBin, "calico")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := d.RunWith(t, containerdtest.RunOptions{
		CtrFlags: []string{"--mount", "type=bind,src=" + hostBin + ",dst=/host/opt/cni/bin,options=rbind:rw"},
	}, refs[0], "--version")
	if err != nil {
		t.Fatalf("running %s: %v\n%s", res.Images[0].Image.Ref(), err, out)
	}
	if !strings.Contains(out, "Kubernetes "+testVersion) || !strings.Contains(out, "installed bridge") {
		t.Fatalf("output %q", out)
	}
	var installed []string
	des, _ := os.ReadDir(hostBin)
	for _, de := range des {
		installed = append(installed, "/opt/cni/bin/"+de.Name())
	}
	if want := append(slices.Clone(allCNIBins[:len(allCNIBins)-1]), "/opt/cni/bin/calico"); !slices.Equal(installed, union(want)) {
		t.Fatalf("host /opt/cni/bin holds %v", installed)
	}
	if b, _ := os.ReadFile(foreign); string(b) != "not ours" {
		t.Fatal("a foreign plugin was changed")
	}
	// What the runtime does with a plugin: execute it from the host directory, through its link.
	for _, plugin := range []string{"bridge", "host-local", "portmap"} {
		cmd := exec.Command(filepath.Join(hostBin, plugin))
		cmd.Env = []string{"CNI_COMMAND=VERSION"}
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "cniVersion") {
			t.Errorf("installed %s: %v, output %q", plugin, err, out)
		}
	}
}

// TestKubeProxyModeSelector: with kubelet's legacy hint chain present, the image's iptables
// goes to the legacy backend; without it, to nft. Each case runs in a fresh network namespace.
func TestKubeProxyModeSelector(t *testing.T) {
	o := options(t, "oci:"+filepath.Join(t.TempDir(), "oci"), "linux/amd64")
	o.Selection, _ = catalog.ParseSelection("kube-proxy")
	res := buildWith(t, o)
	for _, tc := range []struct {
		name, setup, want string
	}{
		{"legacy hint", `chroot "$r" /usr/sbin/iptables-legacy -t mangle -N KUBE-IPTABLES-HINT`, "iptables-legacy"},
		{"nft hint", `chroot "$r" /usr/sbin/iptables-nft -t mangle -N KUBE-IPTABLES-HINT`, "iptables-nft"},
		{"no hint", `true`, "iptables-nft"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := extract(t, imageFor(t, &res.Images[0], "linux/amd64"))
			os.MkdirAll(filepath.Join(root, "proc"), 0o755)
			os.MkdirAll(filepath.Join(root, "dev"), 0o755)
			script := `set -e
r="$1"
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
` + tc.setup + `
chroot "$r" /usr/sbin/iptables-save >/dev/null
readlink "$r/usr/sbin/iptables"
umount -R "$r/dev"; umount "$r/proc"
`
			out, err := exec.Command("unshare", "--mount", "--net", "sh", "-c", script, "sh", root).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, tc.want) {
				t.Fatalf("iptables now points at %q, want %s", got, tc.want)
			}
		})
	}
	// ckubelet's nft over Debian's libnftables, as knftables drives it, in a fresh network
	// namespace; and ckubelet's modprobe, which runs against the image's libc and, on a host
	// whose modules are not mounted into the container, says so (the VM test loads real modules).
	root := extract(t, imageFor(t, &res.Images[0], "linux/amd64"))
	t.Run("nft", func(t *testing.T) {
		script := `set -e
r="$1"
nft() { chroot "$r" /usr/sbin/nft "$@"; }
nft --version
nft --check -f - <<EOF
add table ip ckubelet { comment "test" ; }
EOF
nft -f - <<EOF
add table ip ckubelet { comment "test" ; }
add chain ip ckubelet input { type filter hook input priority 0 ; }
add rule ip ckubelet input tcp dport 10250 counter accept
EOF
nft --json --terse list table ip ckubelet
nft list table ip ckubelet
if nft --check add rule ip ckubelet nosuch accept 2>&1; then echo "check passed a missing chain"; exit 1; fi
`
		out, err := exec.Command("unshare", "--net", "sh", "-c", script, "sh", root).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^nftables v1\.\d+\.\d+ `),
			regexp.MustCompile(`"metainfo":`),
			regexp.MustCompile(`"chain": \{"family": "ip", "table": "ckubelet", "name": "input"`),
			regexp.MustCompile(`tcp dport 10250 counter packets 0 bytes 0 accept`),
			regexp.MustCompile(`(?s)Error: Could not process rule.*ckubelet nosuch`),
		} {
			if !want.Match(out) {
				t.Errorf("nft output does not match %s:\n%s", want, out)
			}
		}
		// Debian's nft would have brought libedit and its dependencies.
		if libs, _ := filepath.Glob(filepath.Join(root, "usr/lib/*/libedit.so*")); len(libs) > 0 {
			t.Errorf("the image ships %v", libs)
		}
	})
	out, err := exec.Command("chroot", root, "/usr/sbin/modprobe", "-va", "ip_vs").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "mount the host's /lib/modules") {
		t.Errorf("modprobe -va ip_vs without the host's modules: %v: %s", err, out)
	}
}
