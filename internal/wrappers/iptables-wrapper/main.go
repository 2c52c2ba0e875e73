// Command iptables-wrapper stands in for iptables, ip6tables and their -save and -restore variants
// in the kubelet image and hands each call to the backend the host uses, nft or legacy: rules
// written to the other one would be invisible to the host's firewall and kube-proxy.
//
// The first call decides (see chooseMode) and then, where the image is writable and every save
// command ran, points the links it was called through straight at that backend, so later calls
// skip the wrapper. Otherwise the next call decides again, which is only slower.
//
// Build it static (CGO_ENABLED=0) so it needs nothing from the image and cross-compiles without a
// C toolchain. It ships in every image, so it calls the kernel through package syscall alone:
// os, os/exec, fmt, time and path/filepath would add two thirds to the size of the Go runtime.
package main

import (
	"syscall"
	"unsafe"
)

// saveTimeout is how long each save command may run, in nanoseconds: some iptables-nft releases
// could loop forever on rules they did not understand. A variable so tests can shorten it.
var saveTimeout int64 = 5e9

func main() {
	// os.Args would link in package os, so the arguments come from /proc, which the wrapper
	// needs for /proc/self/exe anyway. (Kernels before 4.2 cut this file at 4 KB of arguments.)
	args, err := readFile("/proc/self/cmdline")
	if err != nil {
		fail(1, "read /proc/self/cmdline: "+err.Error())
	}
	argv := splitNUL(args)
	name := "."
	if len(argv) > 0 {
		name = base(argv[0])
	}
	if !wrapped(name) {
		fail(2, "run through a link named one of "+join(wrappedNames)+", not \""+name+"\"")
	}
	// The backends live beside the wrapper itself, wherever the link that was run is.
	self, err := readlink("/proc/self/exe")
	if err != nil {
		fail(1, "readlink /proc/self/exe: "+err.Error())
	}
	self = trimSuffix(self, " (deleted)") // as os.Executable does for a replaced binary
	dir := dirname(self)
	r := &runner{dir: dir}
	mode := chooseMode(r.save)
	if !r.failed {
		rewire(dir, base(self), mode)
	}
	target := backend(name, mode)
	err = syscall.Exec(join2(dir, target), append([]string{target}, argv[1:]...), syscall.Environ())
	fail(1, "exec "+target+": "+err.Error())
}

// fail reports msg on stderr and exits with code.
func fail(code int, msg string) {
	syscall.Write(2, []byte("iptables-wrapper: "+msg+"\n"))
	syscall.Exit(code)
}

// runner runs the save commands in dir.
type runner struct {
	dir string
	// failed records a command that could not start or timed out, as opposed to one that ran
	// and failed (no such table, no kernel support). A decision made without its output is
	// used for this call but not made permanent.
	failed bool
}

// save is a saver.
func (r *runner) save(cmd string, args ...string) string {
	out, ok := run(join2(r.dir, cmd), args, saveTimeout)
	if !ok {
		r.failed = true
	}
	return string(out)
}

// run runs path with args, stdin and stderr on /dev/null, and returns what it printed until it
// exited or, timeout nanoseconds after the start, was killed. ok is false if it could not be
// started, was killed, or could not be waited for or read.
func run(path string, args []string, timeout int64) (out []byte, ok bool) {
	null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer syscall.Close(null)
	var p [2]int
	if syscall.Pipe2(p[:], syscall.O_CLOEXEC) != nil {
		return nil, false
	}
	// argv[0] is the full path, as os/exec passes it.
	pid, err := syscall.ForkExec(path, append([]string{path}, args...), &syscall.ProcAttr{
		Env:   syscall.Environ(),
		Files: []uintptr{uintptr(null), uintptr(p[1]), uintptr(null)},
	})
	syscall.Close(p[1]) // the child has its own copy; ours would keep the pipe from ending
	if err != nil {
		syscall.Close(p[0])
		return nil, false
	}
	// Reading in its own goroutine keeps a large dump flowing while this one watches the clock.
	type result struct {
		out []byte
		err error
	}
	read := make(chan result, 1)
	go func() {
		out, err := readAll(p[0])
		syscall.Close(p[0])
		read <- result{out, err}
	}()
	// Poll rather than block in wait4, so the kill is only ever sent to a child not yet reaped,
	// whose pid cannot have been reused.
	deadline := monotonic() + timeout
	killed, reaped := false, false
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if wpid == pid {
			reaped = true
			break
		}
		if err != nil && err != syscall.EINTR {
			break
		}
		if !killed && monotonic() >= deadline {
			syscall.Kill(pid, syscall.SIGKILL)
			killed = true
		}
		ts := syscall.NsecToTimespec(1e6) // little next to a save's own time, and cheap
		syscall.Nanosleep(&ts, nil)
	}
	// Like os/exec, this waits for the end of the output even after a kill.
	res := <-read
	return res.out, reaped && !killed && res.err == nil
}

// monotonic is a CLOCK_MONOTONIC reading in nanoseconds: unlike the wall clock it does not jump,
// and package time would cost 100 KB.
func monotonic() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func readAll(fd int) ([]byte, error) {
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			return b, err
		}
		b = b[:len(b)+n]
	}
}

func readFile(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	return readAll(fd)
}

func readlink(path string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := syscall.Readlink(path, b)
		if err != nil {
			return "", err
		}
		if n < size { // a full buffer may have cut the target short
			return string(b[:n]), nil
		}
	}
}

// rewire points every wrapped link in dir that still leads to the wrapper at the mode's backend.
// Failure is fine, see the package comment.
func rewire(dir, self, mode string) {
	for _, name := range wrappedNames {
		link := join2(dir, name)
		if target, err := readlink(link); err != nil || base(target) != self {
			continue
		}
		// Replace by rename so a concurrent call never finds the link missing.
		tmp := join2(dir, "."+name+"."+itoa(syscall.Getpid()))
		if syscall.Symlink(backend(name, mode), tmp) == nil && syscall.Rename(tmp, link) != nil {
			syscall.Unlink(tmp)
		}
	}
}

// The path helpers below stand in for path/filepath on the paths this program meets: the kernel
// reports its own path absolute and clean, and the joined names are plain file names.

// base is filepath.Base: the last element of path, ignoring trailing slashes.
func base(path string) string {
	if path == "" {
		return "."
	}
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	if path == "/" {
		return path
	}
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// dirname is filepath.Dir for a clean path.
func dirname(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			if i == 0 {
				return "/"
			}
			return path[:i]
		}
	}
	return "."
}

// join2 is filepath.Join for a directory from dirname and a file name.
func join2(dir, name string) string {
	if dir[len(dir)-1] == '/' {
		return dir + name
	}
	return dir + "/" + name
}

func trimSuffix(s, suffix string) string {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)]
	}
	return s
}

// splitNUL splits the NUL-terminated strings of a /proc cmdline.
func splitNUL(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		out = append(out, string(b[:i]))
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

// join formats names the way fmt's %v does.
func join(names []string) string {
	s := "["
	for i, n := range names {
		if i > 0 {
			s += " "
		}
		s += n
	}
	return s + "]"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
