//go:build vm

package e2e

// TestVMNode proves a containerized kubelet on a real node: a Debian trixie VM (internal/vmtest)
// with systemd as PID 1, cgroup v2, a read-only /usr and the engines the OS ships, on QEMU's
// restricted user-mode network. For each engine, `ckubelet run --runtime systemd --engine E`
// installs the unit; the node must become Ready and run a pod with every kind of volume, serve
// logs, exec and port-forward through the API server, survive its kubelet container being
// killed, a reboot, and an upgrade to the next patch release without restarting the pods, and
// leave nothing of Kubernetes on the VM's file system outside the paths kubelet owns.
//
// The control plane is built from source as in the e2e test and runs in the VM, from a
// read-only disk of the test's, with its state on a second disk: a single-node cluster needs
// the API server to reach kubelet, which the restricted network allows only inside the VM. The
// test talks to the API server through a forwarded port on 127.0.0.1.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"github.com/ckubelet/ckubelet/internal/build"
	"github.com/ckubelet/ckubelet/internal/bundle"
	"github.com/ckubelet/ckubelet/internal/catalog"
	"github.com/ckubelet/ckubelet/internal/debian"
	"github.com/ckubelet/ckubelet/internal/gobuild"
	"github.com/ckubelet/ckubelet/internal/launch"
	"github.com/ckubelet/ckubelet/internal/oci"
	"github.com/ckubelet/ckubelet/internal/output"
	"github.com/ckubelet/ckubelet/internal/testimages"
	"github.com/ckubelet/ckubelet/internal/vmtest"
)

const (
	// Where the test's disks are mounted in the VM: under /run, a tmpfs the file list leaves out.
	vmTools    = "/run/ckubelet-test/tools"
	vmBin      = "/run/ckubelet-test/bin" // ckubelet, taken out of a bundle
	vmState    = "/run/ckubelet-test/state"
	vmHostPath = "/run/ckubelet-test/hostpath"
	vmNodeIP   = "10.0.2.15" // QEMU user networking's guest address
	vmNode     = "ckubelet-vm"
	// vmFromVersion is the patch release the node starts with; it is upgraded to testVersion.
	vmFromVersion = "v1.37.1"
	// enginesEnv lists the engines to test, default all the OS ships.
	enginesEnv = "CKUBELET_VM_ENGINES"
)

// vmArtifacts are the files of the test's read-only disk.
type vmArtifacts struct {
	disk string // ext4 image of dir
	dir  string
}

func TestVMNode(t *testing.T) {
	vmtest.CheckHost(t)
	ctx := context.Background()
	mirror, err := debian.HostMirror("/etc/apt")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	img, err := vmtest.BuildImage(ctx, vmtest.ImageOptions{Mirror: mirror, CacheDir: cacheDir()}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vm: disk ready in %v (%s)", time.Since(began).Round(time.Second), img.Dir)
	art := buildVMArtifacts(t, ctx)
	engines := []string{"containerd", "docker", "podman"}
	if e := os.Getenv(enginesEnv); e != "" {
		engines = strings.Split(e, ",")
	}
	for i, e := range engines {
		t.Run(e, func(t *testing.T) { vmNodeRun(t, img, art, e, i == 0) })
	}
}

// buildVMArtifacts builds the node bundles of both versions (images and ckubelet), the test
// workload and the control plane onto the test's disk.
func buildVMArtifacts(t *testing.T, ctx context.Context) vmArtifacts {
	t.Helper()
	cache := cacheDir()
	dir := filepath.Join(t.TempDir(), "tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := catalog.ParsePlatform("linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	mirror, _ := debian.HostMirror("/etc/apt")
	timed := func(what string, fn func() error) {
		t.Helper()
		began := time.Now()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%-55s %6.1fs", what, time.Since(began).Seconds())
	}
	sel, _ := catalog.ParseSelection("cni")
	for _, v := range []string{vmFromVersion, testVersion} {
		timed("bundle cni "+v, func() error {
			_, _, err := bundle.Make(ctx, build.Options{
				KubernetesVersion: v, Selection: sel, Platforms: []catalog.Platform{p},
				Compression: oci.Zstd, Debian: debian.Source{Mirror: mirror}, CacheDir: cache,
			}, filepath.Join(dir, bundleName(v)))
			return err
		})
	}
	g := &gobuild.Go{}
	k8s, err := g.PrepareKubernetes(ctx, cache, catalog.Version(testVersion))
	if err != nil {
		t.Fatal(err)
	}
	timed("the workload image (agnhost)", func() error {
		named, err := testimages.Build(ctx, testimages.Options{CacheDir: cache, Platform: p, Mirror: mirror, Kubernetes: k8s, Go: g})
		if err != nil {
			return err
		}
		i := slices.IndexFunc(named, func(n output.Named) bool { return n.Image.Repository == "agnhost" })
		named[i].Image.Repository = "ckubelet.test/agnhost"
		return output.Write(ctx, output.Target{Kind: output.DockerArchive, Dest: filepath.Join(dir, "workload.tar")}, named[i:i+1])
	})
	for _, cmd := range controlPlaneCommands {
		timed("compile "+cmd, func() error {
			bin, err := g.Build(ctx, cache, k8s, "./cmd/"+cmd, gobuild.Target{Platform: p})
			if err == nil {
				err = copyFile(bin.Path, filepath.Join(dir, cmd))
			}
			return err
		})
	}
	timed("compile etcd", func() error {
		bin, err := buildEtcd(ctx, g, cache, k8s, p)
		if err == nil {
			err = copyFile(bin, filepath.Join(dir, "etcd"))
		}
		return err
	})
	disk := filepath.Join(t.TempDir(), "tools.raw")
	timed("the test's disk", func() error { return mkfs(dir, disk, 0) })
	return vmArtifacts{disk: disk, dir: dir}
}

// mkfs makes an ext4 image of dir (empty for ""), big enough for it and extra MiB more.
func mkfs(dir, image string, extraMiB int64) error {
	var size int64 = 64 << 20
	if dir != "" {
		filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				size += fi.Size() + 4096
			}
			return nil
		})
		size += size / 5
	}
	size += extraMiB << 20
	args := []string{"-q", "-F", "-L", "ckubelet-test"}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	args = append(args, image, fmt.Sprintf("%dM", size>>20))
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %v\n%s", err, out)
	}
	return nil
}

// killKubelet is how the test kills the kubelet container of each engine.
var killKubelet = map[string]string{
	"containerd": "ctr -n k8s.io tasks kill -s SIGKILL kubelet",
	"docker":     "docker kill kubelet",
	"podman":     "podman kill kubelet",
}

// bundleName is the file name of a version's node bundle on the test's disk.
func bundleName(version string) string { return "node-" + version + ".tar.gz" }

// vmCluster is the control plane in the VM as the test sees it.
type vmCluster struct {
	vm     *vmtest.VM
	cp     *controlPlane
	args   [][]string
	config *rest.Config
}

// vmNodeRun is the whole life of one node with one engine.
func vmNodeRun(t *testing.T, img *vmtest.Image, art vmArtifacts, engineName string, first bool) {
	kill, ok := killKubelet[engineName]
	if !ok {
		t.Fatalf("%s: unknown engine %q (want containerd, docker or podman)", enginesEnv, engineName)
	}
	stateDisk := filepath.Join(t.TempDir(), "state.raw")
	if err := mkfs("", stateDisk, 4096); err != nil {
		t.Fatal(err)
	}
	bootStart := time.Now()
	vm := vmtest.Boot(t, img, vmtest.BootOptions{Forwards: []int{6443}, Disks: []string{art.disk}, StateDisk: stateDisk})
	t.Logf("vm: %s: booted in %v (%s)", engineName, vm.Booted.Round(time.Second), vm.Accel)
	mountDisks(t, vm)
	checkOS(t, vm, first)
	before := fileList(t, vm)

	cl := startVMCluster(t, vm)
	tok := bootstrapCluster(t, cl.cp, &state{Version: testVersion, CgroupRoot: "/"})
	vm.MustRun(t, "ctr -n k8s.io images import "+vmTools+"/workload.tar >/dev/null")
	writeNodeFiles(t, vm, cl, tok)

	// ckubelet run, as a user of this OS would: the unit wraps the engine.
	runStart := time.Now()
	ckubeletInstall(t, vm, engineName, vmFromVersion)
	ready := waitVMNodeReady(t, cl, vmFromVersion, 10*time.Minute)
	fmt.Printf("vm: %s node Ready after %.0fs (boot to Ready %.0fs)\n", engineName, ready.Sub(runStart).Seconds(), ready.Sub(bootStart).Seconds())

	pod := vmWorkload(t, cl)
	checkThroughAPIServer(t, cl, pod)
	checkCgroups(t, vm, pod)
	if first {
		checkModprobe(t, vm)
	}
	containers, mounts := podState(t, cl, vm, pod)

	// The kubelet container dies: systemd starts it again; the pods are left alone.
	started := unitStart(t, vm)
	vm.MustRun(t, kill)
	cl.waitFor(t, "kubelet to be restarted by systemd", 3*time.Minute, func() error {
		if unitStart(t, vm) == started {
			return fmt.Errorf("kubelet.service not restarted yet")
		}
		return nil
	})
	waitVMNodeReady(t, cl, vmFromVersion, 5*time.Minute)
	samePods(t, cl, vm, pod, containers, mounts, "after the kubelet container was killed")

	// Reboot: the unit, the engine and kubelet come back; the test brings its control plane back.
	rebootStart := time.Now()
	vm.Reboot(t)
	mountDisks(t, vm)
	cl.start(t)
	again := waitVMNodeReady(t, cl, vmFromVersion, 10*time.Minute)
	cl.waitFor(t, "the pod running again after the reboot", 5*time.Minute, func() error { return podReady(cl.cp, workloadNS, pod.Name) })
	if prop := strings.TrimSpace(vm.MustRun(t, "findmnt -no PROPAGATION --target "+launch.KubeletDir)); prop != "shared" {
		t.Errorf("after the reboot %s is on a %q mount, want shared", launch.KubeletDir, prop)
	}
	fmt.Printf("vm: %s reboot: Ready again after %.0fs\n", engineName, again.Sub(rebootStart).Seconds())
	containers, mounts = podState(t, cl, vm, pod)

	// Upgrade to the next patch release with the pod running.
	ckubeletInstall(t, vm, engineName, testVersion)
	waitVMNodeReady(t, cl, testVersion, 5*time.Minute)
	samePods(t, cl, vm, pod, containers, mounts, "after the upgrade")
	fmt.Printf("vm: %s upgrade %s -> %s: pods kept\n", engineName, vmFromVersion, testVersion)

	checkFileList(t, before, fileList(t, vm))
}

func mountDisks(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	vm.MustRun(t, fmt.Sprintf("mkdir -p %[1]s %[2]s %[3]s && mount -o ro /dev/vdb %[1]s && mount /dev/vdc %[2]s", vmTools, vmState, vmHostPath))
}

// checkOS checks what the node is: systemd as PID 1, cgroup v2, /usr read-only.
func checkOS(t *testing.T, vm *vmtest.VM, print bool) {
	t.Helper()
	out := strings.Fields(vm.MustRun(t, "stat -fc %T /sys/fs/cgroup; ps -p 1 -o comm=; findmnt -no OPTIONS /usr | cut -d, -f1"))
	if !slices.Equal(out, []string{"cgroup2fs", "systemd", "ro"}) {
		t.Fatalf("the VM's cgroup fs, PID 1 and /usr mount: %q, want cgroup2fs systemd ro", out)
	}
	if print {
		fmt.Println("vm: cgroup2 systemd /usr ro")
	}
}

// fileList is every path of the VM's root file system but the state the OS and the engines
// keep anyway (journal, logs, the engines' storage and the CNI plugins' IP leases, caches).
func fileList(t *testing.T, vm *vmtest.VM) []string {
	t.Helper()
	churn := []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/cache", "/var/log/journal",
		"/var/lib/containerd", "/var/lib/docker", "/var/lib/containers", "/var/lib/cni", "/var/lib/systemd", "/var/lib/private"}
	var prune []string
	for _, c := range churn {
		prune = append(prune, "-path "+c)
	}
	out := vm.MustRun(t, "find / -xdev \\( "+strings.Join(prune, " -o ")+" \\) -prune -o -print | LC_ALL=C sort")
	paths := strings.Split(strings.TrimSpace(out), "\n")
	if len(paths) < 1000 {
		t.Fatalf("the VM's file list has %d paths, not a whole system: %q", len(paths), paths[:min(5, len(paths))])
	}
	return paths
}

// allowedPaths are where running kubelet may leave files: what kubelet and kubeadm own, the CNI
// configuration and plugins, and the unit (with its enablement link). OS logs are not files of
// Kubernetes.
var allowedPaths = []string{"/etc/kubernetes", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/etc/cni", "/opt/cni",
	"/etc/systemd/system/kubelet.service", "/etc/systemd/system/multi-user.target.wants/kubelet.service"}

func checkFileList(t *testing.T, before, after []string) {
	t.Helper()
	var added, removed, logs []string
	allowed := func(p string) bool {
		return slices.ContainsFunc(allowedPaths, func(a string) bool { return p == a || strings.HasPrefix(p, a+"/") })
	}
	for _, p := range after {
		if _, found := slices.BinarySearch(before, p); found || allowed(p) {
			continue
		}
		if strings.HasPrefix(p, "/var/log/") {
			logs = append(logs, p)
			continue
		}
		added = append(added, p)
	}
	for _, p := range before {
		if _, found := slices.BinarySearch(after, p); !found && !allowed(p) {
			removed = append(removed, p)
		}
	}
	t.Logf("vm: file list: %d paths before, %d after; OS logs written meanwhile: %v", len(before), len(after), logs)
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("the VM's file system changed outside %v:\nadded %q\nremoved %q", allowedPaths, added, removed)
	}
}

// startVMCluster writes the PKI onto the state disk and starts the control plane.
func startVMCluster(t *testing.T, vm *vmtest.VM) *vmCluster {
	t.Helper()
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	p.at = func(name string) string { return vmState + "/pki/" + name }
	args, adminConf, err := controlPlaneArgs(p, vmState+"/etcd", vmNodeIP)
	if err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	cmd := exec.Command("tar", "-C", dir, "-cf", "-", ".")
	cmd.Stdout = &tarball
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.RunInput("mkdir -p "+vmState+"/pki && tar -C "+vmState+"/pki -xf -", &tarball); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", adminConf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = "https://" + vm.Port(6443)
	cfg.TLSClientConfig.ServerName = "localhost"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := &vmCluster{vm: vm, cp: &controlPlane{pki: p, admin: cfg, client: client}, args: args, config: cfg}
	cl.start(t)
	return cl
}

// start runs the control plane as transient units (gone at reboot, like the test's disks).
func (cl *vmCluster) start(t *testing.T) {
	t.Helper()
	began := time.Now()
	for _, a := range cl.args {
		words := []string{"systemd-run", "--unit=ckubelet-test-" + a[0], "--collect", "-p", "Restart=on-failure", vmTools + "/" + a[0]}
		line := launch.ShellCommand([][]string{append(words, a[1:]...)})
		cl.vm.MustRun(t, line)
	}
	waitFor(t, "kube-apiserver /readyz in the VM", 10*time.Minute, cl.cp.readyz)
	t.Logf("vm: control plane ready in %v", time.Since(began).Round(time.Second))
}

// writeNodeFiles is what a node without kubeadm is given: the cluster CA, a bootstrap kubeconfig
// with a join token, and the CNI configuration for the plugins the image installs.
func writeNodeFiles(t *testing.T, vm *vmtest.VM, cl *vmCluster, tok bootstrapToken) {
	t.Helper()
	bootstrap := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /etc/kubernetes/pki/ca.crt
    server: https://%s:%s
  name: cluster
contexts:
- context: {cluster: cluster, user: kubelet-bootstrap}
  name: bootstrap
current-context: bootstrap
users:
- name: kubelet-bootstrap
  user:
    token: %s
`, vmNodeIP, apiServerPort, tok)
	conflist := `{
  "cniVersion": "1.0.0",
  "name": "ckubelet",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "` + nodePodCIDR + `"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`
	for path, content := range map[string]string{
		"/etc/kubernetes/pki/ca.crt":          string(cl.cp.pki.caPEM),
		launch.BootstrapKubeconfig:            bootstrap,
		"/etc/cni/net.d/10-ckubelet.conflist": conflist,
		vmHostPath + "/hello.txt":             hostPathValue + "\n",
	} {
		if _, err := vm.RunInput("mkdir -p "+filepath.Dir(path)+" && cat > "+path, strings.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
}

// ckubeletInstall installs a version's node bundle as a user of this OS would: ckubelet out of
// the bundle, then `ckubelet install --runtime systemd --engine E`, which checks the bundle,
// loads its images and installs the unit. ckubelet goes to a tmpfs of its own: the VM's /run is
// noexec, and its disk is the OS's, which the file list check keeps free of ckubelet.
func ckubeletInstall(t *testing.T, vm *vmtest.VM, engine, version string) {
	t.Helper()
	b := vmTools + "/" + bundleName(version)
	out, err := vm.Run(fmt.Sprintf("{ mountpoint -q %[1]s || { mkdir -p %[1]s && mount -t tmpfs -o mode=0755,size=128m ckubelet-bin %[1]s; }; } && "+
		"tar -xzf %[2]s -C %[1]s ckubelet && %[1]s/ckubelet install --bundle %[2]s --runtime systemd --engine %[3]s --mount %[4]s --node-ip %[5]s --force 2>&1",
		vmBin, b, engine, vmHostPath, vmNodeIP))
	t.Logf("vm: ckubelet install (%s, %s):\n%s", engine, version, out)
	if err != nil {
		t.Fatal(err)
	}
}

// waitVMNodeReady waits for the node to be Ready with kubelet of the given version.
func waitVMNodeReady(t *testing.T, cl *vmCluster, version string, timeout time.Duration) time.Time {
	t.Helper()
	var last string
	err := pollEvery(timeout, 2*time.Second, func() error {
		n, err := cl.cp.client.CoreV1().Nodes().Get(context.Background(), vmNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = n.Status.NodeInfo.KubeletVersion
		if r := nodeReady(n); r != "Ready" {
			return fmt.Errorf("node %s: %s", vmNode, r)
		}
		if last != version {
			return fmt.Errorf("node runs kubelet %s, want %s", last, version)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, cl.diagnostics())
	}
	return time.Now()
}

// waitFor is waitFor with what the node says when the wait fails.
func (cl *vmCluster) waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("waiting for %s: %v\n%s", what, err, cl.diagnostics())
	}
}

// diagnostics is the workload's events and the node's recent kubelet and containerd logs.
func (cl *vmCluster) diagnostics() string {
	w := workloads{cp: cl.cp}
	logs, _ := cl.vm.Run("journalctl -u kubelet.service -u containerd.service --no-pager -n 30 | cut -c1-400")
	return w.events(workloadNS) + "--- journal ---\n" + logs
}

// vmWorkload runs agnhost's netexec with a Secret, a ConfigMap, an emptyDir, a hostPath (the
// --mount of ckubelet run) and a subPath of the ConfigMap.
func vmWorkload(t *testing.T, cl *vmCluster) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	c := cl.cp.client
	c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadNS}}, metav1.CreateOptions{})
	if _, err := c.CoreV1().Secrets(workloadNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"},
		StringData: map[string]string{"key": secretValue}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(workloadNS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "config"},
		Data: map[string]string{"color": configValue}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "netexec", Image: "ckubelet.test/agnhost:" + testimages.AgnhostTag, ImagePullPolicy: corev1.PullNever,
				Args: []string{"netexec", "--http-port=8080"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "secret", MountPath: "/etc/secret"},
					{Name: "config", MountPath: "/etc/config"},
					{Name: "scratch", MountPath: "/scratch"},
					{Name: "host", MountPath: "/mnt/host"},
					{Name: "config", MountPath: "/etc/color", SubPath: "color"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "secret"}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "config"}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: vmHostPath, Type: ptr(corev1.HostPathDirectory)}}},
			},
		},
	}
	if _, err := c.CoreV1().Pods(workloadNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.waitFor(t, "the workload pod Ready", 5*time.Minute, func() error { return podReady(cl.cp, workloadNS, podName) })
	p, err := c.CoreV1().Pods(workloadNS).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkThroughAPIServer uses kubelet's API as kubectl does: logs, exec, port-forward.
func checkThroughAPIServer(t *testing.T, cl *vmCluster, pod *corev1.Pod) {
	t.Helper()
	failedBefore := t.Failed()
	ctx := context.Background()
	// Running is not yet logging: under TCG the server's first line can come seconds later.
	err := poll(time.Minute, func() error {
		logs, err := cl.cp.client.CoreV1().Pods(workloadNS).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err == nil && !strings.Contains(string(logs), "8080") {
			err = fmt.Errorf("no line about port 8080 in %q", logs)
		}
		return err
	})
	if err != nil {
		t.Errorf("kubectl logs: %v", err)
	}
	req := cl.cp.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(workloadNS).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "netexec", Command: []string{"cat", "/etc/secret/key", "/etc/config/color", "/etc/color", "/mnt/host/hello.txt"},
			Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(cl.config, http.MethodPost, req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	want := secretValue + configValue + configValue + hostPathValue + "\n"
	if err != nil || stdout.String() != want {
		t.Errorf("kubectl exec: %q (stderr %q), %v; want %q", stdout.String(), stderr.String(), err, want)
	}
	// port-forward 8080 and ask netexec who it is.
	transport, upgrader, err := spdy.RoundTripperFor(cl.config)
	if err != nil {
		t.Fatal(err)
	}
	pfURL := cl.cp.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(workloadNS).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, pfURL)
	stop, readyCh := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, readyCh, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	go fw.ForwardPorts()
	select {
	case <-readyCh:
	case <-time.After(time.Minute):
		t.Fatal("kubectl port-forward: not ready after a minute")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports %v, %v", ports, err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0].Local))
	if err != nil {
		t.Fatalf("kubectl port-forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != pod.Name {
		t.Errorf("kubectl port-forward: GET /hostname = %q, want %q", body, pod.Name)
	}
	if t.Failed() == failedBefore {
		t.Logf("vm: logs, exec and port-forward through the API server work")
	}
}

// checkModprobe loads IPVS with the kube-proxy image's own modprobe, as kube-proxy does at every
// start (modprobe -va ip_vs), from the host's compressed modules, which the kernel decompresses.
func checkModprobe(t *testing.T, vm *vmtest.VM) {
	t.Helper()
	if out, _ := vm.Run("test -d /sys/module/ip_vs && echo loaded"); strings.TrimSpace(out) == "loaded" {
		t.Fatal("ip_vs is loaded before the test loads it")
	}
	img := "docker.io/library/" + catalog.KubeProxyImage(vmFromVersion, "trixie").Ref() // from the installed bundle
	out, err := vm.Run("ctr -n k8s.io run --rm --privileged --mount type=bind,src=/lib/modules,dst=/lib/modules,options=rbind:ro " +
		img + " ckubelet-modprobe /usr/sbin/modprobe -va ip_vs 2>&1; test -d /sys/module/ip_vs")
	if err != nil {
		t.Fatalf("kube-proxy's modprobe -va ip_vs: %v\n%s", err, out)
	}
	t.Logf("vm: kube-proxy's modprobe loaded ip_vs:\n%s", strings.TrimSpace(out))
}

// checkCgroups checks kubelet's cgroup driver and that the pod's cgroup is under kubepods.slice.
func checkCgroups(t *testing.T, vm *vmtest.VM, pod *corev1.Pod) {
	t.Helper()
	if cfg := vm.MustRun(t, "cat "+launch.KubeletConfigPath); !strings.Contains(cfg, "cgroupDriver: systemd") {
		t.Errorf("kubelet configuration without the systemd cgroup driver:\n%s", cfg)
	}
	uid := strings.ReplaceAll(string(pod.UID), "-", "_")
	out, _ := vm.Run("find /sys/fs/cgroup -type d -name '*pod" + uid + ".slice'")
	cg := strings.TrimSpace(out)
	if !strings.HasPrefix(cg, "/sys/fs/cgroup/kubepods.slice/") {
		t.Errorf("the cgroup of pod %s is %q, want a slice under /sys/fs/cgroup/kubepods.slice", pod.UID, cg)
	} else {
		t.Logf("vm: the pod's cgroup: %s", cg)
	}
}

// podState is the pod's container IDs and restart counts, and its volumes' mounts on the node.
func podState(t *testing.T, cl *vmCluster, vm *vmtest.VM, pod *corev1.Pod) (containers, mounts []string) {
	t.Helper()
	p, err := cl.cp.client.CoreV1().Pods(workloadNS).Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range p.Status.ContainerStatuses {
		containers = append(containers, fmt.Sprintf("%s %s restarts=%d", cs.Name, cs.ContainerID, cs.RestartCount))
	}
	out := vm.MustRun(t, "awk '{print $5}' /proc/self/mountinfo | grep '^"+launch.KubeletDir+"/pods/"+string(pod.UID)+"/volumes/' | LC_ALL=C sort")
	mounts = strings.Fields(out)
	if len(mounts) < 2 { // the Secret's and the memory emptyDir's tmpfs at least
		t.Fatalf("pod %s has %d volume mounts on the node, want its secret and emptyDir tmpfs: %q", pod.Name, len(mounts), mounts)
	}
	return containers, mounts
}

// samePods fails t unless the pod's containers are the same ones and each volume is mounted once.
func samePods(t *testing.T, cl *vmCluster, vm *vmtest.VM, pod *corev1.Pod, containers, mounts []string, when string) {
	t.Helper()
	cl.waitFor(t, "the pod Ready "+when, 3*time.Minute, func() error { return podReady(cl.cp, workloadNS, pod.Name) })
	c, m := podState(t, cl, vm, pod)
	if !slices.Equal(c, containers) {
		t.Errorf("%s the pod's containers are %q, were %q", when, c, containers)
	}
	if !slices.Equal(m, mounts) || len(slices.Compact(slices.Clone(m))) != len(m) {
		t.Errorf("%s the pod's volume mounts are %q, were %q (each must be mounted once)", when, m, mounts)
	}
}

// unitStart is when systemd last started kubelet.service.
func unitStart(t *testing.T, vm *vmtest.VM) string {
	t.Helper()
	return strings.TrimSpace(vm.MustRun(t, "systemctl show -p ExecMainStartTimestampMonotonic --value kubelet.service"))
}
