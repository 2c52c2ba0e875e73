// Package containerdtest starts a real containerd for a test, imports images into it and runs them
// with runc, so integration tests check what ckubelet builds against the runtime that will run it.
//
// It drives the daemon with the ctr CLI from the same Debian containerd package rather than the
// containerd Go client: ctr always matches the daemon's version (Debian ships 1.6), it is the tool a
// user would reach for, and it keeps containerd's large dependency tree (gRPC, protobuf, cgroups,
// CRI API…) out of ckubelet's go.mod for the sake of a test helper.
//
// Requirements: root, and containerd, ctr, containerd-shim-runc-v2 and runc on PATH (Debian packages
// "containerd" and "runc", installed by hack/setup.sh). Without them Start skips the test, or fails it when
// CKUBELET_REQUIRE_TOOLS is set (see internal/testenv), so CI cannot silently skip these tests.
package containerdtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// Namespace is the containerd namespace images are imported into and containers run in.
const Namespace = "ckubelet"

// SnapshotterEnv, when set (e.g. "native"), forces the snapshotter instead of picking one.
const SnapshotterEnv = "CKUBELET_CONTAINERD_SNAPSHOTTER"

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	ctrTimeout   = 2 * time.Minute // any single ctr call other than Run
	// DefaultRunTimeout bounds Run when RunOptions.Timeout is zero.
	DefaultRunTimeout = 5 * time.Minute
)

// Daemon is a containerd started for one test, with its own root, state, socket and config in a temp
// dir, stopped and cleaned (processes killed, mounts under its root unmounted, dirs removed) by
// t.Cleanup.
type Daemon struct {
	dir         string // everything of this daemon lives here
	address     string // gRPC socket
	log         string // containerd's stdout+stderr
	snapshotter string
	cmd         *exec.Cmd
	exited      chan struct{} // closed when containerd exits
	waitErr     error         // containerd's exit status, valid once exited is closed
	runs        atomic.Int64  // numbers container IDs
	tailShown   bool          // a failure message already holds the log's tail
}

// Start starts a containerd for t and registers its cleanup. It skips t when the host cannot run
// one (see the package comment).
func Start(t testing.TB) *Daemon {
	t.Helper()
	checkPrerequisites(t)

	// Not t.TempDir: a unix socket path must fit in 108 bytes, and test names can be long.
	dir, err := os.MkdirTemp("", "containerdtest-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		dir:     dir,
		address: filepath.Join(dir, "containerd.sock"),
		log:     filepath.Join(dir, "containerd.log"),
		exited:  make(chan struct{}),
	}
	// Registered before anything is started, so a half-started daemon is cleaned too.
	t.Cleanup(func() { d.stop(t) })

	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(d.config()), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor

	began := time.Now()
	d.cmd = exec.Command("containerd", "--config", config)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = daemonSysProcAttr()
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.exited) }()

	if err := d.waitReady(); err != nil {
		d.fatalf(t, "containerd did not become ready: %v", err)
	}
	d.snapshotter, err = d.pickSnapshotter()
	if err != nil {
		d.fatalf(t, "choosing a snapshotter: %v", err)
	}
	t.Logf("containerd ready in %v at %s (snapshotter %s)", time.Since(began).Round(time.Millisecond), d.address, d.snapshotter)
	return d
}

// Address returns the path of the daemon's gRPC socket.
func (d *Daemon) Address() string { return d.address }

// Snapshotter returns the snapshotter images are unpacked with and containers run on.
func (d *Daemon) Snapshotter() string { return d.snapshotter }

// config is a containerd 1.6 configuration that keeps every path inside d.dir.
//
// The CRI plugin is disabled: these tests only need images and runc, and CRI would want CNI and
// /etc/cni, and its sandboxes set a negative oom_score_adj, which needs CAP_SYS_RESOURCE that CI
// machines lack (otherwise it needs restrict_oom_score_adj = true). The "opt" plugin is disabled
// because it would create /opt/containerd on the host.
func (d *Daemon) config() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]

[grpc]
  address = %q

[debug]
  level = "info"
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state"), d.address)
}

// runcRoot is where runc keeps container state. The runc shim's default, /run/containerd/runc, is
// shared with every other containerd on the host; ours lets cleanup find leftovers of this daemon
// only.
func (d *Daemon) runcRoot() string { return filepath.Join(d.dir, "runc") }

// cgroupParent holds the cgroups of this daemon's containers, so parallel daemons never share one
// and cleanup can remove them (ctr's default, /<namespace>/<id>, is shared and left behind).
func (d *Daemon) cgroupParent() string { return "/" + filepath.Base(d.dir) }

func checkPrerequisites(t testing.TB) {
	t.Helper()
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "containerd and runc need root: run the tests as root")
	}
	var missing []string
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("containerd not installed: %s not on PATH; run hack/setup.sh as root (it installs the Debian packages containerd and runc, as CI does)",
			strings.Join(missing, ", ")))
	}
	if len(problems) == 0 {
		return
	}
	testenv.Missing(t, "containerdtest: %s", strings.Join(problems, "; "))
}

// waitReady polls until the daemon answers on its socket, or fails early if it exits.
func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited: %v", d.waitErr)
		default:
		}
		// The socket file appears before the server serves; ask it something.
		if _, err := os.Stat(d.address); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = d.ctr(ctx, "version")
			cancel()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s after %v", d.address, startTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pickSnapshotter prefers overlayfs and falls back to native. containerd's overlayfs plugin tests an
// overlay mount inside its root when it loads and reports "skip" when that fails (e.g. a root on
// overlayfs or tmpfs of an old kernel, inside a container): its verdict is the one that matters.
func (d *Daemon) pickSnapshotter() (string, error) {
	if s := os.Getenv(SnapshotterEnv); s != "" {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctrTimeout)
	defer cancel()
	out, err := d.ctr(ctx, "plugins", "ls")
	if err != nil {
		return "", err
	}
	status := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		// TYPE  ID  PLATFORMS  STATUS
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "io.containerd.snapshotter.v1" {
			status[f[1]] = f[len(f)-1]
		}
	}
	for _, s := range []string{"overlayfs", "native"} {
		if status[s] == "ok" {
			return s, nil
		}
	}
	return "", fmt.Errorf("neither overlayfs nor native snapshotter loaded: %v", status)
}

// Ctr runs ctr with the given arguments against this daemon, in Namespace, and returns its combined
// output.
func (d *Daemon) Ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctrTimeout)
	defer cancel()
	return d.ctr(ctx, args...)
}

func (d *Daemon) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", d.address, "--namespace", Namespace}, args...)...)
	cmd.WaitDelay = 5 * time.Second // don't hang on pipes if ctr is killed
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("ctr %s: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

// ctr images import prints one "unpacking NAME (DIGEST)...done" line per image it unpacks.
var unpackedRe = regexp.MustCompile(`(?m)^unpacking (\S+) \((sha256:[0-9a-f]{64})\)`)

// Import imports a docker-archive or oci-archive (ctr detects which) and returns the references of
// the images it created, unpacked with the daemon's snapshotter. ctr names an OCI archive's images
// by the io.containerd.image.name annotation, else by org.opencontainers.image.ref.name: a full
// reference is kept as is, a bare tag T becomes "import-DATE:T".
func (d *Daemon) Import(t testing.TB, archive string) []string {
	t.Helper()
	args := []string{"images", "import", "--snapshotter", d.snapshotter}
	ctx, cancel := context.WithTimeout(context.Background(), ctrTimeout)
	defer cancel()
	began := time.Now()
	out, err := d.ctr(ctx, append(args, archive)...)
	if err != nil {
		d.fatalf(t, "importing %s: %v\n%s", archive, err, out)
	}
	var refs []string
	for _, m := range unpackedRe.FindAllStringSubmatch(out, -1) {
		refs = append(refs, m[1])
	}
	if len(refs) == 0 {
		t.Fatalf("importing %s created no image (is it named? does it hold the host's platform?):\n%s", archive, out)
	}
	t.Logf("imported %v in %v", refs, time.Since(began).Round(time.Millisecond))
	return refs
}

// RunOptions adjusts how Run starts a container.
type RunOptions struct {
	Privileged  bool          // all capabilities and host devices (ctr run --privileged)
	HostNetwork bool          // the host's network namespace (ctr run --net-host)
	Env         []string      // KEY=value, added to the image's environment
	Entrypoint  []string      // replaces the image's entrypoint when non-nil (docker run --entrypoint)
	Timeout     time.Duration // kills the container after this; DefaultRunTimeout when zero
	// CtrFlags are further `ctr run` flags, e.g. "--mount", "type=bind,src=/x,dst=/x,options=rbind:rw".
	CtrFlags []string
}

// Run runs ref to completion and returns the container's combined stdout and stderr. As with
// docker run, args replace the image's cmd and follow its entrypoint (ctr alone would replace both).
// The error is non-nil when the container exits non-zero (it wraps an *exec.ExitError carrying the
// exit code), times out, or cannot start; ctr's own messages are then in the output.
func (d *Daemon) Run(t testing.TB, ref string, args ...string) (string, error) {
	t.Helper()
	return d.RunWith(t, RunOptions{}, ref, args...)
}

// RunWith is Run with options.
func (d *Daemon) RunWith(t testing.TB, opts RunOptions, ref string, args ...string) (string, error) {
	t.Helper()
	id := fmt.Sprintf("run-%d", d.runs.Add(1))
	flags := []string{"run", "--rm", "--snapshotter", d.snapshotter,
		"--runc-root", d.runcRoot(),
		"--fifo-dir", filepath.Join(d.dir, "fifo"), // not /run/containerd/fifo
		"--cgroup", d.cgroupParent() + "/" + id,
	}
	if opts.Privileged {
		flags = append(flags, "--privileged")
	}
	if opts.HostNetwork {
		flags = append(flags, "--net-host")
	}
	for _, e := range opts.Env {
		flags = append(flags, "--env", e)
	}
	flags = append(flags, opts.CtrFlags...)

	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultRunTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	began := time.Now()

	// ctr run uses the image's entrypoint and cmd only when given no arguments; otherwise the
	// arguments are the whole command line, so put the entrypoint in front ourselves.
	entrypoint := opts.Entrypoint
	if entrypoint == nil && len(args) > 0 {
		var err error
		if entrypoint, err = d.imageEntrypoint(ctx, ref); err != nil {
			return "", fmt.Errorf("running %s: %w", ref, err)
		}
	}
	flags = append(append(append(flags, ref, id), entrypoint...), args...)
	out, err := d.ctr(ctx, flags...)
	if ctx.Err() != nil {
		// Killing ctr leaves the task running; kill and remove it.
		d.removeContainer(id)
		return out, fmt.Errorf("running %s: timed out after %v", ref, timeout)
	}
	t.Logf("ran %s %q in %v", ref, args, time.Since(began).Round(time.Millisecond))
	return out, err
}

// imageEntrypoint reads the Entrypoint from ref's config in the content store: the image's target
// (an index is resolved to the manifest for the host's platform), its manifest, then its config.
func (d *Daemon) imageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	out, err := d.ctr(ctx, "images", "list", "name=="+ref)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 { // header, then REF TYPE DIGEST SIZE PLATFORMS LABELS
		return nil, fmt.Errorf("image %s not found:\n%s", ref, out)
	}
	digest := strings.Fields(lines[1])[2]
	for range 3 {
		blob, err := d.ctr(ctx, "content", "get", digest)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Manifests []struct {
				Digest   string `json:"digest"`
				Platform struct {
					OS           string `json:"os"`
					Architecture string `json:"architecture"`
				} `json:"platform"`
			} `json:"manifests"` // an index
			Config struct {
				Digest     string   `json:"digest"`     // a manifest's config descriptor
				Entrypoint []string `json:"Entrypoint"` // an image config's config
			} `json:"config"`
		}
		if err := json.Unmarshal([]byte(blob), &doc); err != nil {
			return nil, fmt.Errorf("%s: blob %s: %w", ref, digest, err)
		}
		switch {
		case doc.Manifests != nil:
			next := ""
			for _, m := range doc.Manifests {
				if m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
					next = m.Digest
					break
				}
			}
			if next == "" {
				return nil, fmt.Errorf("%s has no linux/%s image", ref, runtime.GOARCH)
			}
			digest = next
		case doc.Config.Digest != "":
			digest = doc.Config.Digest
		default:
			return doc.Config.Entrypoint, nil
		}
	}
	return nil, fmt.Errorf("%s: no image config found", ref)
}

// removeContainer force-deletes a container's task and the container, best effort.
func (d *Daemon) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.ctr(ctx, "tasks", "delete", "--force", id)
	d.ctr(ctx, "containers", "delete", id)
}

// stop is the cleanup: containers through the daemon, the daemon, then by hand whatever processes,
// cgroups and mounts are left, and last the files.
func (d *Daemon) stop(t testing.TB) {
	if t.Failed() && !d.tailShown {
		t.Logf("%s", d.logTail())
	}
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.exited:
		default:
			// Ask the daemon to tear down what is left, so shims exit and unmount cleanly.
			if out, err := d.Ctr("containers", "list", "--quiet"); err == nil {
				for _, id := range strings.Fields(out) {
					d.removeContainer(id)
				}
			}
			d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.exited:
			case <-time.After(stopTimeout):
				d.cmd.Process.Kill()
				<-d.exited
			}
		}
	}
	// Shims outlive containerd by design, and their containers outlive them: kill what is left.
	d.killRuncContainers(t)
	d.killShims(t)
	if err := removeCgroups(d.cgroupParent()); err != nil {
		t.Errorf("containerdtest: %v", err)
	}
	if err := unmountUnder(d.dir); err != nil {
		t.Errorf("containerdtest: %v", err)
	}
	if err := os.RemoveAll(d.dir); err != nil {
		t.Errorf("containerdtest: removing %s: %v", d.dir, err)
	}
}

// killRuncContainers force-deletes every container in this daemon's runc root.
func (d *Daemon) killRuncContainers(t testing.TB) {
	root := filepath.Join(d.runcRoot(), Namespace)
	entries, err := os.ReadDir(root)
	if err != nil {
		return // never ran a container
	}
	for _, e := range entries {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if out, err := exec.CommandContext(ctx, "runc", "--root", root, "delete", "--force", e.Name()).CombinedOutput(); err != nil {
			t.Logf("containerdtest: runc delete %s: %v: %s", e.Name(), err, out)
		}
		cancel()
	}
}

// fatalf fails t with a message followed by the end of containerd's log.
func (d *Daemon) fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	d.tailShown = true
	t.Fatalf(format+"\n%s", append(args, d.logTail())...)
}

// logTail returns the end of containerd's log, for failure messages.
func (d *Daemon) logTail() string {
	const lines = 40
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(no containerd log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(all), d.log, strings.Join(all, "\n"))
}
