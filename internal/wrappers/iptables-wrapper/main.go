// Command iptables-wrapper stands in for iptables, ip6tables and their -save and -restore variants
// in the kubelet image and hands each call to the backend the host uses, nft or legacy: rules
// written to the other one would be invisible to the host's firewall and kube-proxy.
//
// The first call decides (see chooseMode) and then, where the image is writable and every save
// command ran, points the links it was called through straight at that backend, so later calls
// skip the wrapper. Otherwise the next call decides again, which is only slower.
//
// Build it static (CGO_ENABLED=0) so it needs nothing from the image and cross-compiles without a
// C toolchain.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	name := filepath.Base(os.Args[0])
	if !wrapped(name) {
		fmt.Fprintf(os.Stderr, "iptables-wrapper: run through a link named one of %v, not %q\n", wrappedNames, name)
		os.Exit(2)
	}
	// The backends live beside the wrapper itself, wherever the link that was run is.
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "iptables-wrapper: %v\n", err)
		os.Exit(1)
	}
	dir := filepath.Dir(self)
	r := &runner{dir: dir}
	mode := chooseMode(r.save)
	if !r.failed {
		rewire(dir, filepath.Base(self), mode)
	}
	target := backend(name, mode)
	err = syscall.Exec(filepath.Join(dir, target), append([]string{target}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "iptables-wrapper: exec %s: %v\n", target, err)
	os.Exit(1)
}

// runner runs the save commands in dir.
type runner struct {
	dir string
	// failed records a command that could not start or timed out, as opposed to one that ran
	// and failed (no such table, no kernel support). A decision made without its output is
	// used for this call but not made permanent.
	failed bool
}

// save is a saver. Each command gets five seconds: some iptables-nft releases could loop forever
// on rules they did not understand.
func (r *runner) save(cmd string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(r.dir, cmd), args...).Output()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || ctx.Err() != nil) {
		r.failed = true
	}
	return string(out)
}

// rewire points every wrapped link in dir that still leads to the wrapper at the mode's backend.
// Failure is fine, see the package comment.
func rewire(dir, self, mode string) {
	for _, name := range wrappedNames {
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err != nil || filepath.Base(target) != self {
			continue
		}
		// Replace by rename so a concurrent call never finds the link missing.
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", name, os.Getpid()))
		if os.Symlink(backend(name, mode), tmp) == nil && os.Rename(tmp, link) != nil {
			os.Remove(tmp)
		}
	}
}
