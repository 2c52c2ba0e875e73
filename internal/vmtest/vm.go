package vmtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// RequireKVMEnv, when set, makes a machine without /dev/kvm fail the test instead of skipping
// it; CI sets it.
const RequireKVMEnv = "CKUBELET_REQUIRE_KVM"

// BootOptions configure a VM.
type BootOptions struct {
	CPUs, MemoryMiB int // default 2 and 4096
	// Forwards are guest TCP ports reachable from the host's 127.0.0.1 (VM.Port).
	Forwards []int
	// Disks are extra disk images, attached read-only after the root disk (/dev/vdb, …).
	Disks []string
	// StateDisk, when set, is a writable disk image attached after Disks, kept across reboots.
	StateDisk string
}

// VM is a booted test node.
type VM struct {
	// Accel is how QEMU runs the guest: "kvm", or "tcg" where KVM cannot run an unmodified
	// guest kernel (see accel).
	Accel string
	// Booted is how long the first boot took until SSH answered.
	Booted time.Duration

	img    *Image
	dir    string
	ssh    string // 127.0.0.1:port of the guest's sshd
	ports  map[int]string
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	client *ssh.Client
	serial string
	logf   func(string, ...any)
}

// accel picks QEMU's accelerator: KVM when the CPU has hardware virtualization. Some hosts
// offer a /dev/kvm without it (KVM-PVM, a paravirtual nested KVM): there only kernels built for
// PVM run at speed, and a stock distribution kernel takes most of an hour to boot, so the VM
// runs under TCG, QEMU's emulator, instead.
func accel() (string, string) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "tcg", "no /dev/kvm"
	}
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		if strings.HasPrefix(line, "flags") {
			for _, f := range strings.Fields(line) {
				if f == "vmx" || f == "svm" {
					return "kvm", ""
				}
			}
			break
		}
	}
	return "tcg", "/dev/kvm exists but the CPU has no hardware virtualization (vmx/svm): this KVM cannot run a stock kernel at speed"
}

// CheckHost skips t, or fails it under RequireKVMEnv, when this machine cannot run the VM.
func CheckHost(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		msg := "no /dev/kvm: the VM tests need KVM"
		if os.Getenv(RequireKVMEnv) != "" {
			t.Fatalf("%s (%s is set)", msg, RequireKVMEnv)
		}
		t.Skip(msg)
	}
	testenv.Root(t)
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "mmdebstrap", "mkfs.ext4"} {
		testenv.LookPath(t, tool)
	}
}

// Boot starts the VM on a fresh overlay of img and waits until SSH answers. t.Cleanup stops it.
func Boot(t testing.TB, img *Image, o BootOptions) *VM {
	t.Helper()
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 4096
	}
	dir := t.TempDir()
	overlay := filepath.Join(dir, "overlay.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", img.Disk, "-F", "qcow2", overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	vm := &VM{img: img, dir: dir, ports: map[int]string{}, serial: filepath.Join(dir, "serial.log"), exited: make(chan struct{}), logf: t.Logf}
	vm.ssh = freePort(t)
	netdev := "user,id=n0,restrict=on,hostfwd=tcp:" + vm.ssh + "-:22"
	for _, p := range o.Forwards {
		vm.ports[p] = freePort(t)
		netdev += fmt.Sprintf(",hostfwd=tcp:%s-:%d", vm.ports[p], p)
	}
	a, why := accel()
	vm.Accel = a
	if why != "" {
		t.Logf("vm: running under TCG: %s", why)
	}
	args := []string{"-machine", "q35", "-smp", fmt.Sprint(o.CPUs), "-m", fmt.Sprint(o.MemoryMiB),
		"-nodefaults", "-display", "none", "-no-user-config",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		"-append", "console=ttyS0 root=/dev/vda rw",
		"-drive", "file=" + overlay + ",if=virtio,format=qcow2,discard=unmap,cache=unsafe",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
		"-device", "virtio-rng-pci",
		"-serial", "file:" + vm.serial,
	}
	if a == "kvm" {
		args = append([]string{"-enable-kvm", "-cpu", "host"}, args...)
	} else {
		// qemu64, not max: the plainest x86-64 (Debian's baseline) gives TCG the least to
		// emulate, and none of its newest instruction sets.
		args = append([]string{"-accel", "tcg,thread=multi,tb-size=512", "-cpu", "qemu64"}, args...)
	}
	for _, d := range o.Disks {
		args = append(args, "-drive", "file="+d+",if=virtio,format=raw,readonly=on")
	}
	if o.StateDisk != "" {
		args = append(args, "-drive", "file="+o.StateDisk+",if=virtio,format=raw,cache=unsafe")
	}
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	qlog, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		t.Fatal(err)
	}
	vm.cmd.Stdout, vm.cmd.Stderr = qlog, qlog
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	began := time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	go func() { vm.cmd.Wait(); qlog.Close(); close(vm.exited) }()
	t.Cleanup(vm.stop)
	if err := vm.waitSSH(20 * time.Minute); err != nil {
		t.Fatalf("vm: %v\n%s", err, vm.SerialTail(30))
	}
	vm.Booted = time.Since(began)
	return vm
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Port is the host address of a forwarded guest port.
func (vm *VM) Port(guest int) string { return vm.ports[guest] }

// SerialTail is the end of the guest's console, for failure messages.
func (vm *VM) SerialTail(n int) string {
	b, _ := os.ReadFile(vm.serial)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitSSH connects until the guest's sshd answers with the expected host key.
func (vm *VM) waitSSH(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(vm.img.ClientKey)},
		HostKeyCallback: ssh.FixedHostKey(vm.img.HostKey),
		Timeout:         5 * time.Second,
	}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-vm.exited:
			return fmt.Errorf("qemu exited: %v", vm.cmd.ProcessState)
		default:
		}
		c, err := ssh.Dial("tcp", vm.ssh, cfg)
		if err == nil {
			vm.mu.Lock()
			vm.client = c
			vm.mu.Unlock()
			return nil
		}
		last = err
		time.Sleep(time.Second)
	}
	return fmt.Errorf("no SSH after %v: %v", timeout, last)
}

// Run runs a shell command in the guest and returns its combined output.
func (vm *VM) Run(command string) (string, error) {
	return vm.RunInput(command, nil)
}

// RunInput runs a shell command with stdin.
func (vm *VM) RunInput(command string, stdin io.Reader) (string, error) {
	vm.mu.Lock()
	c := vm.client
	vm.mu.Unlock()
	if c == nil {
		return "", errors.New("not connected")
	}
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	// CombinedOutput serializes the two streams' writes; two io.Copy into one bytes.Buffer race
	// (each is a ReadFrom) and lose output.
	sess.Stdin = stdin
	out, err := sess.CombinedOutput(command)
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", firstLine(command), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustRun is Run failing t.
func (vm *VM) MustRun(t testing.TB, command string) string {
	t.Helper()
	out, err := vm.Run(command)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// Reboot reboots the guest (QEMU keeps running) and waits until SSH answers from the new boot;
// it returns how long that took.
func (vm *VM) Reboot(t testing.TB) time.Duration {
	t.Helper()
	began := time.Now()
	oldBoot := strings.TrimSpace(vm.MustRun(t, "cat "+bootIDFile))
	vm.Run("systemctl reboot") // the connection may drop before it answers
	// A slow shutdown (kubelet and the engine stopping under TCG) keeps the old sshd answering
	// for a while: only a connection that reports a new boot ID is the rebooted system.
	deadline := time.Now().Add(20 * time.Minute)
	for {
		vm.disconnect()
		time.Sleep(5 * time.Second)
		if err := vm.waitSSH(time.Until(deadline)); err != nil {
			t.Fatalf("vm after reboot: %v\n%s", err, vm.SerialTail(30))
		}
		out, err := vm.Run("cat " + bootIDFile)
		if id := strings.TrimSpace(out); err == nil && id != "" && id != oldBoot {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vm: no new boot after 20m (boot ID %s, last %q, %v)\n%s", oldBoot, out, err, vm.SerialTail(30))
		}
	}
	t.Logf("vm: rebooted in %v", time.Since(began).Round(time.Second))
	return time.Since(began)
}

const bootIDFile = "/proc/sys/kernel/random/boot_id"

func (vm *VM) disconnect() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.client != nil {
		vm.client.Close()
		vm.client = nil
	}
}

// ForwardToHost makes the guest's 127.0.0.1:guestPort reach hostAddr on the host, through the
// SSH connection (what ssh -R does): the guest sees a service of the host on its own loopback,
// and nothing else of the host's network.
func (vm *VM) ForwardToHost(t testing.TB, guestPort int, hostAddr string) {
	t.Helper()
	vm.mu.Lock()
	c := vm.client
	vm.mu.Unlock()
	l, err := c.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", guestPort))
	if err != nil {
		t.Fatalf("forwarding guest port %d: %v", guestPort, err)
	}
	go func() {
		for {
			remote, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer remote.Close()
				local, err := net.Dial("tcp", hostAddr)
				if err != nil {
					return
				}
				defer local.Close()
				go io.Copy(local, remote)
				io.Copy(remote, local)
			}()
		}
	}()
}

// stop powers the guest off, or kills QEMU when it does not stop.
func (vm *VM) stop() {
	vm.Run("systemctl poweroff")
	select {
	case <-vm.exited:
	case <-time.After(2 * time.Minute):
		vm.cmd.Process.Kill()
		<-vm.exited
	}
}
