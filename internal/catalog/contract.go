package catalog

// The contract between the images and the launcher: where the images keep their programs, the
// node paths their entrypoints read, and the labels that say what an image is. internal/build
// lays the images out by it and internal/launch mounts and configures the node by it; nothing
// else spells these paths.
const (
	// Programs in the kubelet flavors.
	KubeletBinary    = "/usr/bin/kubelet"
	KubeadmBinary    = "/usr/bin/kubeadm"
	CrictlBinary     = "/usr/bin/crictl"
	CrictlConfig     = "/etc/crictl.yaml"
	CNIInstallBinary = "/usr/bin/cni-install"
	// CNIBinDir holds the CNI flavors' plugins inside the image.
	CNIBinDir = "/opt/cni/bin"
	// HostCNIBinDir is where the launcher mounts the host's /opt/cni/bin, for cni-install to fill.
	// Not /opt/cni/bin itself, which would hide the image's plugins.
	HostCNIBinDir = "/host/opt/cni/bin"

	// KubeProxyBinary is where kubeadm's kube-proxy DaemonSet runs kube-proxy from, as in
	// upstream's image.
	KubeProxyBinary = "/usr/local/bin/kube-proxy"

	// PauseBinary and PauseUser are upstream's pause image's.
	PauseBinary = "/pause"
	PauseUser   = "65535:65535"

	// Node paths the kubelet entrypoint reads: the ones kubeadm writes, so that a node joined by
	// kubeadm needs no extra arguments.
	KubeletDir          = "/var/lib/kubelet"
	KubeletConfigPath   = KubeletDir + "/config.yaml"
	KubernetesDir       = "/etc/kubernetes"
	KubeletKubeconfig   = KubernetesDir + "/kubelet.conf"
	BootstrapKubeconfig = KubernetesDir + "/bootstrap-kubelet.conf"
)

// Labels ckubelet adds to every kubelet and kube-proxy image.
const (
	KubernetesVersionLabel = "dev.ckubelet.kubernetes.version"
	FlavorLabel            = "dev.ckubelet.flavor"
)

// KubeletEntrypoint is the original project's entrypoint: the paths kubeadm writes, so that a node
// joined by kubeadm needs no extra arguments. Arguments given to the container are appended.
var KubeletEntrypoint = []string{
	KubeletBinary,
	"--config=" + KubeletConfigPath,
	"--register-node",
	"--bootstrap-kubeconfig=" + BootstrapKubeconfig,
	"--kubeconfig=" + KubeletKubeconfig,
}

// CNIInstallEntrypoint goes before KubeletEntrypoint in the CNI flavors: it installs the image's
// plugins into the host's /opt/cni/bin, mounted at HostCNIBinDir, then execs kubelet. Since
// Kubernetes 1.24 the container runtime, not kubelet, runs CNI plugins, and it runs them from the
// host.
var CNIInstallEntrypoint = []string{CNIInstallBinary, "--from=" + CNIBinDir, "--to=" + HostCNIBinDir, "--"}
