// Package vmtest builds and boots a real test node: a Debian virtual machine with systemd as PID
// 1, the unified cgroup v2 hierarchy, a read-only /usr and the container engines the
// distribution ships, on QEMU's restricted user-mode network, driven over SSH.
//
// The disk is built from signed Debian packages by mmdebstrap, which verifies every index and
// package as apt does, with the archive keyring, from the host's mirror; it is cached (see
// internal/cache) under a key of everything that goes into it. Each boot runs on a copy-on-write
// overlay, so every test starts from the same pristine disk.
package vmtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/ckubelet/ckubelet/internal/cache"
)

// imageFormat changes whenever how the disk is built changes, so that old disks are not reused.
const imageFormat = 1

// Packages are what the node's OS ships, as a Flatcar or Fedora CoreOS host would: systemd and
// its network, the kernel, the container engines and nothing of Kubernetes. Debian trixie has
// neither nerdctl nor CRI-O.
var Packages = []string{
	"systemd", "systemd-sysv", "udev", "dbus", "linux-sysctl-defaults",
	"linux-image-amd64", "initramfs-tools",
	"containerd", "runc", "docker.io", "docker-cli", "podman",
	"openssh-server",
	"iptables", "nftables", "iproute2", "kmod", "procps", "e2fsprogs", "ca-certificates",
}

// ImageOptions say what goes into the disk.
type ImageOptions struct {
	Mirror   string // Debian mirror (the host's, see debian.HostMirror)
	Suite    string // default trixie
	Keyring  string // default /usr/share/keyrings/debian-archive-keyring.gpg
	Packages []string
	CacheDir string
	SizeGiB  int // default 12
}

// Image is a built disk with its kernel, initrd and the SSH keys to reach it.
type Image struct {
	Dir                  string // a cache entry
	Kernel, Initrd, Disk string
	ClientKey            ssh.Signer
	HostKey              ssh.PublicKey
	PackageList          string // dpkg-query of the installed packages
}

func (o *ImageOptions) defaults() {
	if o.Suite == "" {
		o.Suite = "trixie"
	}
	if o.Keyring == "" {
		o.Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	}
	if o.Packages == nil {
		o.Packages = Packages
	}
	if o.SizeGiB == 0 {
		o.SizeGiB = 12
	}
}

// BuildImage returns the disk for o, building it when the cache has none.
func BuildImage(ctx context.Context, o ImageOptions, logf func(format string, args ...any)) (*Image, error) {
	o.defaults()
	for _, tool := range []string{"mmdebstrap", "mkfs.ext4", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed: run hack/setup.sh", tool)
		}
	}
	keyJSON, _ := json.Marshal(struct {
		Format                 int
		Mirror, Suite, Keyring string
		Packages               []string
		SizeGiB                int
		Files                  map[string]string
	}{imageFormat, o.Mirror, o.Suite, o.Keyring, o.Packages, o.SizeGiB, guestFiles})
	sum := sha256.Sum256(keyJSON)
	key := hex.EncodeToString(sum[:])
	c := cache.Cache{Dir: o.CacheDir}
	dir, ok, err := c.Get("vm-image", key)
	if err != nil {
		return nil, err
	}
	if !ok {
		logf("building the VM disk (Debian %s, %d packages) with mmdebstrap", o.Suite, len(o.Packages))
		dir, err = c.Put("vm-image", key, func(dir string) error { return build(ctx, o, dir, logf) })
		if err != nil {
			return nil, fmt.Errorf("building the VM disk: %w", err)
		}
	}
	return loadImage(dir)
}

func loadImage(dir string) (*Image, error) {
	img := &Image{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"), Disk: filepath.Join(dir, "disk.qcow2")}
	b, err := os.ReadFile(filepath.Join(dir, "id_ed25519"))
	if err != nil {
		return nil, err
	}
	if img.ClientKey, err = ssh.ParsePrivateKey(b); err != nil {
		return nil, err
	}
	b, err = os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		return nil, err
	}
	if img.HostKey, _, _, _, err = ssh.ParseAuthorizedKey(b); err != nil {
		return nil, err
	}
	list, err := os.ReadFile(filepath.Join(dir, "packages.txt"))
	img.PackageList = string(list)
	return img, err
}

// guestFiles are written into the disk: the network of QEMU's user-mode net (static: no DHCP
// wait), /usr read-only (a bind mount of itself, made before anything starts), sshd for the
// test's key only.
var guestFiles = map[string]string{
	"/etc/systemd/network/10-eth.network": `[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
`,
	"/etc/systemd/system/usr.mount": `[Unit]
Description=Read-only /usr, as on an image-based OS
DefaultDependencies=no
Conflicts=umount.target
Before=local-fs.target umount.target

[Mount]
What=/usr
Where=/usr
Type=none
Options=bind,ro
`,
	"/etc/ssh/sshd_config.d/ckubelet-test.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nUseDNS no\n",
	"/etc/hostname": "ckubelet-vm\n",
	"/etc/hosts":    "127.0.0.1\tlocalhost\n127.0.1.1\tckubelet-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	"/etc/fstab":    "/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n",
	// No package source: nothing in the test may reach a network.
	"/etc/apt/sources.list": "# no network in the test VM\n",
	// containerd as an image-based OS configures it for Kubernetes (Flatcar's, for one): runc
	// with the systemd cgroup driver, which kubelet uses on a systemd host, the CNI plugins in
	// /opt/cni/bin (Debian's default, /usr/lib/cni, is read-only here), and the pause image the
	// OS image carries, since no registry can be reached. A runtimes.runc table replaces containerd's
	// default one whole, so it names its runtime_type again (else: "container.Runtime.Name must be set").
	"/etc/containerd/config.toml": `version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/library/pause:3.10.2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
`,
}

// build makes the disk in dir: mmdebstrap into a directory, then an ext4 image of it (mkfs.ext4
// -d needs no loop device), as qcow2.
func build(ctx context.Context, o ImageOptions, dir string, logf func(string, ...any)) error {
	if err := writeKeys(dir); err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.CacheDir, ".vm-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	files := filepath.Join(work, "files")
	for p, content := range guestFiles {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(files, p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(files, p), []byte(content), 0o644); err != nil {
			return err
		}
	}
	rootfs := filepath.Join(work, "rootfs")
	hooks := []string{
		`cp -a ` + files + `/. "$1"/`,
		`mkdir -p "$1"/etc/systemd/system/local-fs.target.wants && ln -sf ../usr.mount "$1"/etc/systemd/system/local-fs.target.wants/usr.mount`,
		`chroot "$1" systemctl enable systemd-networkd.service`,
		`chroot "$1" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer`,
		`chroot "$1" passwd --lock root`,
		`install -D -m 600 ` + filepath.Join(dir, "id_ed25519.pub") + ` "$1"/root/.ssh/authorized_keys`,
		`rm -f "$1"/etc/ssh/ssh_host_*`,
		`install -m 600 ` + filepath.Join(dir, "ssh_host_ed25519_key") + ` "$1"/etc/ssh/`,
		`install -m 644 ` + filepath.Join(dir, "ssh_host_ed25519_key.pub") + ` "$1"/etc/ssh/`,
		`chroot "$1" dpkg-query -W -f '${Package} ${Version}\n' > ` + filepath.Join(dir, "packages.txt"),
		`cp "$1"/boot/vmlinuz-* ` + filepath.Join(dir, "vmlinuz") + ` && cp "$1"/boot/initrd.img-* ` + filepath.Join(dir, "initrd.img"),
	}
	args := []string{"--variant=apt", "--mode=root", "--format=directory", "--keyring=" + o.Keyring,
		"--include=" + strings.Join(o.Packages, ",")}
	for _, h := range hooks {
		args = append(args, "--customize-hook="+h)
	}
	args = append(args, o.Suite, rootfs, "deb "+o.Mirror+" "+o.Suite+" main", "deb "+o.Mirror+" "+o.Suite+"-updates main")
	if err := run(ctx, logf, "mmdebstrap", args...); err != nil {
		return err
	}
	raw := filepath.Join(work, "disk.raw")
	if err := run(ctx, logf, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", rootfs, raw, fmt.Sprintf("%dG", o.SizeGiB)); err != nil {
		return err
	}
	return run(ctx, logf, "qemu-img", "convert", "-O", "qcow2", raw, filepath.Join(dir, "disk.qcow2"))
}

// run runs a build command, logging its last lines when it fails.
func run(ctx context.Context, logf func(string, ...any), name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		return fmt.Errorf("%s: %v\n%s", name, err, strings.Join(lines, "\n"))
	}
	return nil
}

// writeKeys generates the test's client key and the guest's host key, so that the test can
// check whom it talks to.
func writeKeys(dir string) error {
	for _, name := range []string{"id_ed25519", "ssh_host_ed25519_key"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
		sp, err := ssh.NewPublicKey(pub)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".pub"), ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
			return err
		}
	}
	return nil
}
