package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/plugin"
	"github.com/containerd/containerd/reference/docker"
	"github.com/containerd/containerd/runtime/restart"
	"github.com/containerd/platforms"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The containerd launcher drives the daemon with the containerd 1.7 Go client, which speaks the
// 1.6 daemon's API (Debian bookworm ships 1.6); a 2.x client may use calls 1.6 lacks.

// bindOptions are a mount's options in an OCI spec: recursive bind, access, propagation.
func bindOptions(m Mount) []string {
	opts := []string{"rbind", "rw"}
	if m.ReadOnly {
		opts[1] = "ro"
	}
	if m.Propagation != PropagationDefault {
		opts = append(opts, string(m.Propagation))
	}
	return opts
}

// ociMounts are s's mounts as OCI bind mounts.
func ociMounts(s Spec) []specs.Mount {
	var out []specs.Mount
	for _, m := range s.Mounts {
		out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: bindOptions(m)})
	}
	return out
}

// specOpts turns s into containerd spec options. image supplies the entrypoint, Cmd and
// environment; nil leaves them out (for --print, which has no daemon to read the image from).
func specOpts(s Spec, image oci.Image) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if image != nil {
		if s.Entrypoint != nil {
			opts = append(opts, oci.WithImageConfig(image), oci.WithProcessArgs(append(append([]string{}, s.Entrypoint...), s.Args...)...))
		} else {
			opts = append(opts, oci.WithImageConfigArgs(image, s.Args))
		}
	} else {
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, s.Entrypoint...), s.Args...)...))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.Privileged {
		// What ctr --privileged does, minus the host's device nodes: /dev is bind-mounted
		// instead, so the container follows hot-plugged devices, and the device cgroup allows
		// all. Docker does not set no_new_privs on privileged containers either.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithNewPrivileges)
	}
	for _, ns := range []struct {
		host bool
		t    specs.LinuxNamespaceType
	}{
		{s.HostNetwork, specs.NetworkNamespace},
		{s.HostPID, specs.PIDNamespace},
		{s.HostIPC, specs.IPCNamespace},
		{s.HostUTS, specs.UTSNamespace},
	} {
		if ns.host {
			opts = append(opts, oci.WithHostNamespace(ns.t))
		}
	}
	// containerd adds no cgroup namespace, so HostCgroupNS needs nothing.
	opts = append(opts,
		withoutMountsUnder(s.Mounts),
		oci.WithMounts(ociMounts(s)),
		// The launcher label as an annotation too, as ctr puts it, so that runc's state says who
		// made the container.
		oci.WithAnnotations(map[string]string{LauncherLabel: "ckubelet"}),
	)
	if s.HostNetwork {
		// What docker --network=host and ctr --net-host do, in ctr's order; kubelet reads
		// resolv.conf for pods' DNS.
		hostname, err := os.Hostname()
		if err == nil {
			opts = append(opts, oci.WithHostHostsFile, oci.WithHostResolvconf, oci.WithEnv([]string{"HOSTNAME=" + hostname}))
		}
	}
	opts = append(opts,
		func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			// containerd's client leaves the root private, and an rshared bind mount in a
			// private (or slave) root propagates nothing back to the host.
			sp.Linux.RootfsPropagation = string(s.RootfsPropagation)
			// containerd's default spec caps open files at 1024, far too few for kubelet;
			// inherit the daemon's limit as docker and the CRI plugin do.
			sp.Process.Rlimits = nil
			return nil
		},
	)
	return opts
}

// withoutMountsUnder drops the default mounts (tmpfs /dev, /dev/pts, /dev/shm, /dev/mqueue,
// tmpfs /run) that a bind mount of ours covers: the bind brings the host's instead, and a default
// mount listed first would only be hidden, or worse, mounted over a bind it should not cover.
func withoutMountsUnder(binds []Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		kept := s.Mounts[:0]
		for _, m := range s.Mounts {
			covered := false
			for _, b := range binds {
				if under(m.Destination, b.Destination) {
					covered = true
					break
				}
			}
			if !covered {
				kept = append(kept, m)
			}
		}
		s.Mounts = kept
		return nil
	}
}

// OCISpec generates the OCI runtime spec containerd would get for s in namespace ns, without the
// image's entrypoint and environment (merged in at creation). For --print and tests.
func OCISpec(s Spec, ns string) (*oci.Spec, error) {
	ctx := namespaces.WithNamespace(context.Background(), ns)
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: s.Name}, specOpts(s, nil)...)
}

// ContainerdOptions configure the containerd launcher.
type ContainerdOptions struct {
	Address     string // the daemon's socket, default /run/containerd/containerd.sock
	Namespace   string // default k8s.io
	Snapshotter string // empty for the daemon's default
	// LogFile receives the kubelet container's output; the restart monitor reopens it on each
	// restart. It grows without bound: rotate it with copytruncate.
	LogFile string
	// CgroupParent, when set, holds the container's cgroup (default /<namespace>/<name>).
	CgroupParent string
	// RuncRoot and FIFODir replace runc's state directory (/run/containerd/runc) and the one-shot
	// container's FIFO directory (/run/containerd/fifo): tests keep them out of the host's.
	RuncRoot, FIFODir string
}

const (
	DefaultContainerdAddress = "/run/containerd/containerd.sock"
	DefaultNamespace         = "k8s.io"
	// pinnedLabel marks an image the CRI plugin (containerd ≥ 1.7) reports as pinned, which
	// kubelet's image garbage collection never removes: kubelet's own image in the k8s.io
	// namespace is used by no pod, so kubelet would otherwise delete it under disk pressure.
	pinnedLabel = "io.cri-containerd.pinned"
	// LauncherLabel marks containers ckubelet created.
	LauncherLabel = "io.ckubelet.launched-by"
)

// ContainerdClient creates and starts containers with the containerd Go client.
type ContainerdClient struct {
	opts   ContainerdOptions
	client *containerd.Client
}

// ConnectContainerd connects to the daemon. Close the result.
func ConnectContainerd(ctx context.Context, o ContainerdOptions) (*ContainerdClient, error) {
	if o.Address == "" {
		o.Address = DefaultContainerdAddress
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if _, err := os.Stat(o.Address); err != nil {
		return nil, fmt.Errorf("no containerd socket at %s (is containerd running? see --containerd-address): %w", o.Address, err)
	}
	client, err := containerd.New(o.Address, containerd.WithDefaultNamespace(o.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", o.Address, err)
	}
	return &ContainerdClient{opts: o, client: client}, nil
}

// Close closes the connection.
func (c *ContainerdClient) Close() error { return c.client.Close() }

// image finds ref in the namespace: as given, then as a docker reference normalizes it
// ("kubelet:v1" → "docker.io/library/kubelet:v1"), since ctr import keeps names as they are while
// ctr pull and nerdctl normalize them.
func (c *ContainerdClient) image(ctx context.Context, ref string) (containerd.Image, error) {
	img, err := c.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		if named, perr := docker.ParseDockerRef(ref); perr == nil && named.String() != ref {
			img, err = c.client.GetImage(ctx, named.String())
		}
	}
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %s not found in containerd namespace %s: import it with ctr -n %s images import FILE", ref, c.opts.Namespace, c.opts.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up image %s: %w", ref, err)
	}
	return img, nil
}

// ImageEntrypoint returns the entrypoint of ref's image config, which ctr needs spelled out.
func (c *ContainerdClient) ImageEntrypoint(ctx context.Context, ref string) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, c.opts.Namespace)
	img, err := c.image(ctx, ref)
	if err != nil {
		return nil, err
	}
	cfg, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", ref, err)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint", ref)
	}
	return cfg.Config.Entrypoint, nil
}

// create makes the container of s from its (unpacked) image, without a task.
func (c *ContainerdClient) create(ctx context.Context, s Spec, labels map[string]string) (containerd.Container, error) {
	img, err := c.image(ctx, s.Image)
	if err != nil {
		return nil, err
	}
	snapshotter := c.opts.Snapshotter
	if snapshotter == "" {
		snapshotter = containerd.DefaultSnapshotter // what ctr and nerdctl use
	}
	if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s with snapshotter %s: %w", s.Image, snapshotter, err)
		}
	}
	opts := specOpts(s, img)
	if c.opts.CgroupParent != "" {
		opts = append(opts, oci.WithCgroup(path.Join(c.opts.CgroupParent, s.Name)))
	}
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LauncherLabel] = "ckubelet"
	// Runtime options belong to the container, so the restart monitor's tasks get them too.
	// The image's config labels and stop signal go on the container as ctr and nerdctl put them.
	cont, err := c.client.NewContainer(ctx, s.Name,
		containerd.WithImage(img),
		containerd.WithImageConfigLabels(img),
		containerd.WithImageStopSignal(img, "SIGTERM"),
		containerd.WithSnapshotter(snapshotter),
		containerd.WithNewSnapshot(s.Name, img),
		containerd.WithNewSpec(opts...),
		containerd.WithAdditionalContainerLabels(labels),
		containerd.WithRuntime(plugin.RuntimeRuncV2, &options.Options{Root: c.opts.RuncRoot}),
	)
	if errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("container or snapshot %q already exists in containerd namespace %s: pass --replace to remove it", s.Name, c.opts.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("creating container %s: %w", s.Name, err)
	}
	return cont, nil
}

// Start creates the container of s and starts its task, detached, logging to LogFile. With
// s.Restart "always" it then sets containerd's restart-monitor labels, so the daemon's restart
// plugin starts the task again whenever it is not running (crash, kill, reboot). The labels are
// added after the start, or the monitor could race us to create the first task.
func (c *ContainerdClient) Start(ctx context.Context, s Spec, replace bool) (pid uint32, err error) {
	if replace {
		if err := c.Remove(ctx, s.Name); err != nil {
			return 0, err
		}
	}
	cont, err := c.create(ctx, s, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			cont.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
		}
	}()
	uri := ""
	creator := cio.NullIO
	if c.opts.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(c.opts.LogFile), 0o755); err != nil {
			return 0, err
		}
		u := &url.URL{Scheme: "file", Path: c.opts.LogFile}
		uri, creator = u.String(), cio.LogURI(u)
	}
	task, err := cont.NewTask(ctx, creator)
	if err != nil {
		return 0, fmt.Errorf("creating the task of %s: %w", s.Name, err)
	}
	if err := task.Start(ctx); err != nil {
		task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		return 0, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	if s.Restart == RestartAlways {
		opts := []containerd.UpdateContainerOpts{restart.WithStatus(containerd.Running), withRestartPolicy("always")}
		if uri != "" {
			opts = append(opts, restart.WithLogURIString(uri))
		}
		if err := cont.Update(ctx, opts...); err != nil {
			return 0, fmt.Errorf("setting the restart labels of %s: %w", s.Name, err)
		}
	}
	if c.opts.Namespace == "k8s.io" {
		c.pin(ctx, s.Image)
	}
	return task.Pid(), nil
}

// withRestartPolicy sets the restart policy label (containerd ≥ 1.6 reads it; "always" is also
// what older monitors do).
func withRestartPolicy(policy string) containerd.UpdateContainerOpts {
	return func(_ context.Context, _ *containerd.Client, c *containers.Container) error {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[restart.PolicyLabel] = policy
		return nil
	}
}

// pin labels the image as pinned, best effort (see pinnedLabel).
func (c *ContainerdClient) pin(ctx context.Context, ref string) {
	img, err := c.image(ctx, ref)
	if err != nil {
		return
	}
	meta := img.Metadata()
	if meta.Labels[pinnedLabel] == "pinned" {
		return
	}
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels[pinnedLabel] = "pinned"
	c.client.ImageService().Update(ctx, images.Image{Name: meta.Name, Labels: meta.Labels}, "labels."+pinnedLabel)
}

// Import imports the images of a docker- or OCI-archive for this platform, unpacked for the
// snapshotter, and returns their names.
func (c *ContainerdClient) Import(ctx context.Context, archive string) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, c.opts.Namespace)
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	imgs, err := c.client.Import(ctx, f, containerd.WithImportPlatform(platforms.Default()))
	if err != nil {
		return nil, fmt.Errorf("importing %s into containerd: %w", archive, err)
	}
	snapshotter := c.opts.Snapshotter
	if snapshotter == "" {
		snapshotter = containerd.DefaultSnapshotter
	}
	var names []string
	for _, img := range imgs {
		if err := containerd.NewImageWithPlatform(c.client, img, platforms.Default()).Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// Remove stops and deletes the named container and its snapshot, if it exists. The restart
// labels go first, or the restart monitor would start the task again under our feet.
func (c *ContainerdClient) Remove(ctx context.Context, name string) error {
	cont, err := c.client.LoadContainer(ctx, name)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cont.Update(ctx, restart.WithNoRestarts); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("clearing the restart labels of %s: %w", name, err)
	}
	if task, err := cont.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting the task of %s: %w", name, err)
		}
	}
	if err := cont.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting container %s: %w", name, err)
	}
	return nil
}

// RunOnce runs s to completion with its output on stdout and stderr (kubeadm join), then deletes
// it. A non-zero exit is an error of type *ExitError.
func (c *ContainerdClient) RunOnce(ctx context.Context, s Spec, stdout, stderr io.Writer) (err error) {
	cont, err := c.create(ctx, s, nil)
	if err != nil {
		return err
	}
	defer func() {
		if derr := cont.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup); derr != nil && err == nil {
			err = derr
		}
	}()
	ioOpts := []cio.Opt{cio.WithStreams(nil, stdout, stderr)}
	if c.opts.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(c.opts.FIFODir))
	}
	task, err := cont.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return fmt.Errorf("creating the task of %s: %w", s.Name, err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	exited, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("starting %s: %w", s.Name, err)
	}
	select {
	case st := <-exited:
		code, _, err := st.Result()
		if err != nil {
			return err
		}
		if code != 0 {
			return &ExitError{Name: s.Name, Code: int(code)}
		}
		return nil
	case <-ctx.Done():
		task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		<-exited
		return ctx.Err()
	}
}

// ExitError is a one-shot container that exited non-zero.
type ExitError struct {
	Name string
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s exited with status %d", e.Name, e.Code) }

// IsExit reports whether err is an *ExitError.
func IsExit(err error) bool {
	var e *ExitError
	return errors.As(err, &e)
}

// containerdRuntime creates containers with the containerd Go client; its script form, and a
// systemd unit wrapping it, use ctr.
type containerdRuntime struct{ opts ContainerdOptions }

func (r *containerdRuntime) String() string  { return "containerd" }
func (r *containerdRuntime) service() string { return "containerd.service" }

func (r *containerdRuntime) PullCheck(image string) Step { return containerdPullCheck{image: image} }

func (r *containerdRuntime) imageStore() string {
	return containerdStore(r.opts.Address, r.opts.Namespace)
}

func (r *containerdRuntime) Load(archive string) []Step {
	return []Step{containerdLoad{r: r, archive: archive}}
}

// containerdLoad imports a docker-archive with the Go client and unpacks its images for the
// snapshotter the CRI plugin uses, as `ctr images import` does.
type containerdLoad struct {
	r       *containerdRuntime
	archive string
}

func (l containerdLoad) Do(ctx context.Context, x *executor) error {
	client, err := x.client(ctx)
	if err != nil {
		return err
	}
	names, err := client.Import(ctx, l.archive)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "imported %s into containerd namespace %s\n", strings.Join(names, ", "), l.r.opts.Namespace)
	return nil
}

func (l containerdLoad) Script(context.Context, *executor) (string, error) {
	argv := l.r.ctr("images", "import")
	if l.r.opts.Snapshotter != "" {
		argv = append(argv, "--snapshotter", l.r.opts.Snapshotter)
	}
	return ShellCommand([][]string{append(argv, l.archive)}), nil
}

func (r *containerdRuntime) Start(s Spec, replace bool) []Step {
	return []Step{containerdStart{r: r, spec: s, replace: replace}}
}

func (r *containerdRuntime) RunOnce(s Spec, replace bool) []Step {
	return []Step{containerdRunOnce{r: r, spec: s, replace: replace}}
}

// ctr is ctr with the daemon's address and namespace, and a subcommand.
func (r *containerdRuntime) ctr(sub ...string) []string {
	cmd := []string{"ctr"}
	if r.opts.Address != "" && r.opts.Address != DefaultContainerdAddress {
		cmd = append(cmd, "--address", r.opts.Address)
	}
	if r.opts.Namespace != "" {
		cmd = append(cmd, "--namespace", r.opts.Namespace)
	}
	return append(cmd, sub...)
}

// entrypoint returns s for ctr: the image under the name containerd stores it by, since ctr
// takes names literally (an imported docker-archive's "kubelet:v1" is stored as
// "docker.io/library/kubelet:v1"), and the image's entrypoint spelled out, since ctr replaces
// the image's whole command when given arguments (without any, it runs the image's, as the Go
// client does). Without containerd (a unit rendered offline, a --print before the image is
// there), the name is the normalized one every pull and docker-archive import stores.
func (r *containerdRuntime) entrypoint(ctx context.Context, x *executor, s Spec) (Spec, error) {
	needEntrypoint := s.Entrypoint == nil && len(s.Args) > 0
	c, err := x.client(ctx)
	if err != nil {
		if needEntrypoint {
			return s, fmt.Errorf("ctr needs the entrypoint of %s from containerd: %w", s.Image, err)
		}
		s.Image = normalizedRef(s.Image)
		return s, nil
	}
	img, err := c.image(namespaces.WithNamespace(ctx, c.opts.Namespace), s.Image)
	if err != nil {
		if needEntrypoint {
			return s, err
		}
		s.Image = normalizedRef(s.Image)
		return s, nil
	}
	s.Image = img.Name()
	if needEntrypoint {
		if s.Entrypoint, err = c.ImageEntrypoint(ctx, s.Image); err != nil {
			return s, err
		}
	}
	return s, nil
}

// normalizedRef is ref as containerd stores pulled and docker-archive-imported images.
func normalizedRef(ref string) string {
	if named, err := docker.ParseDockerRef(ref); err == nil {
		return named.String()
	}
	return ref
}

// ctrRun is `ctr run` for s: detached with the log file, or in the foreground with --rm.
func (r *containerdRuntime) ctrRun(s Spec, detach bool) [][]string {
	groups := [][]string{r.ctr("run")}
	add := func(words ...string) { groups = append(groups, words) }
	if detach {
		add("--detach")
		if r.opts.LogFile != "" {
			add("--log-uri", logURI(r.opts.LogFile))
		}
	} else {
		add("--rm")
		if r.opts.FIFODir != "" {
			add("--fifo-dir", r.opts.FIFODir)
		}
	}
	add("--label", LauncherLabel+"=ckubelet")
	if r.opts.Snapshotter != "" {
		add("--snapshotter", r.opts.Snapshotter)
	}
	if r.opts.CgroupParent != "" {
		add("--cgroup", path.Join(r.opts.CgroupParent, s.Name))
	}
	if r.opts.RuncRoot != "" {
		add("--runc-root", r.opts.RuncRoot)
	}
	if s.Privileged {
		// ctr sets no_new_privs unless told; a privileged container needs new privileges.
		add("--privileged")
		add("--allow-new-privs")
	}
	// ctr's default of 1024 CPU shares would be written into the container's cgroup, which on
	// cgroup v2 runc converts to a weight of 39, below the default 100; 0 leaves it alone.
	add("--cpu-shares", "0")
	if s.HostNetwork {
		add("--net-host")
	}
	// ctr has no --pid=host. --with-ns joins the namespace at a path, which runc opens before it
	// creates any: /proc/self is then runc itself, in containerd's namespaces, which is what
	// "host" means for the Go client too (it inherits them). /proc/1 would need ptrace rights on
	// PID 1, which some sandboxes deny. Without a cgroup namespace (containerd adds none) the
	// cgroup one is the host's already.
	for _, ns := range []struct {
		host bool
		name string
	}{{s.HostPID, "pid"}, {s.HostIPC, "ipc"}, {s.HostUTS, "uts"}} {
		if ns.host {
			add("--with-ns", ns.name+":/proc/self/ns/"+ns.name)
		}
	}
	if s.RootfsPropagation != PropagationDefault {
		// ctr 1.6 has the flag; the original project needed a patched ctr for it.
		add("--rootfs-propagation", string(s.RootfsPropagation))
	}
	for _, env := range s.Env {
		add("--env", env)
	}
	for _, m := range s.Mounts {
		add("--mount", "type=bind,src="+m.Source+",dst="+m.Destination+",options="+strings.Join(bindOptions(m), ":"))
	}
	return append(groups, append(append([]string{s.Image, s.Name}, s.Entrypoint...), s.Args...))
}

// ctrRemove is what Remove does, with ctr.
func (r *containerdRuntime) ctrRemove(name string) []Step {
	return []Step{
		command{argv: [][]string{r.ctr("containers", "label", name, restart.StatusLabel+"=", restart.PolicyLabel+"=")}, bestEffort: true},
		command{argv: [][]string{r.ctr("tasks", "delete", "--force", name)}, bestEffort: true},
		command{argv: [][]string{r.ctr("containers", "delete", name)}, bestEffort: true},
	}
}

func (r *containerdRuntime) unitCommands(ctx context.Context, x *executor, s Spec) (pre, run [][]string, stop []string, err error) {
	if s, err = r.entrypoint(ctx, x, s); err != nil {
		return nil, nil, nil, err
	}
	// The task of a crashed ctr outlives it; delete it and the container before starting. No
	// ExecStop: ctr forwards systemd's SIGTERM to the task and removes the container.
	pre = [][]string{r.ctr("tasks", "delete", "--force", s.Name), r.ctr("containers", "delete", s.Name)}
	return pre, r.ctrRun(s, false), nil, nil
}

func logURI(file string) string { return (&url.URL{Scheme: "file", Path: file}).String() }

// ctrRlimitNote says what the printed ctr commands cannot do that the Go client does.
const ctrRlimitNote = "ctr cannot drop containerd's default RLIMIT_NOFILE of 1024 that this container gets; `ckubelet run` gives kubelet the daemon's limit instead"

// containerdStart creates and starts a detached, restarting container with the Go client.
type containerdStart struct {
	r       *containerdRuntime
	spec    Spec
	replace bool
}

func (c containerdStart) Do(ctx context.Context, x *executor) error {
	s := c.spec
	var err error
	if s.Args, err = expandKubeadmArgs(s.Args); err != nil {
		return err
	}
	client, err := x.client(ctx)
	if err != nil {
		return err
	}
	pid, err := client.Start(ctx, s, c.replace)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "started %s (pid %d) in containerd namespace %s; logs in %s; the restart monitor keeps it running\n",
		s.Name, pid, c.r.opts.Namespace, c.r.opts.LogFile)
	return nil
}

func (c containerdStart) Script(ctx context.Context, x *executor) (string, error) {
	s, err := c.r.entrypoint(ctx, x, c.spec)
	if err != nil {
		return "", err
	}
	var lines []string
	if c.replace {
		for _, st := range c.r.ctrRemove(s.Name) {
			l, _ := st.Script(ctx, x)
			lines = append(lines, l)
		}
	}
	lines = append(lines, "# "+ctrRlimitNote, ShellCommand(c.r.ctrRun(s, true)))
	if s.Restart == RestartAlways {
		// After the start, or the restart monitor could race ctr to create the first task.
		labels := []string{restart.StatusLabel + "=running", restart.PolicyLabel + "=always"}
		if c.r.opts.LogFile != "" {
			labels = append(labels, restart.LogURILabel+"="+logURI(c.r.opts.LogFile))
		}
		lines = append(lines, ShellCommand([][]string{c.r.ctr(append([]string{"containers", "label", s.Name}, labels...)...)}))
	}
	if c.r.opts.Namespace == DefaultNamespace {
		lines = append(lines, ShellCommand([][]string{c.r.ctr("images", "label", s.Image, pinnedLabel+"=pinned")}))
	}
	return strings.Join(lines, "\n"), nil
}

// containerdRunOnce runs a one-shot container in the foreground with the Go client.
type containerdRunOnce struct {
	r       *containerdRuntime
	spec    Spec
	replace bool
}

func (c containerdRunOnce) Do(ctx context.Context, x *executor) error {
	client, err := x.client(ctx)
	if err != nil {
		return err
	}
	if c.replace {
		if err := client.Remove(ctx, c.spec.Name); err != nil {
			return err
		}
	}
	if err := client.RunOnce(ctx, c.spec, x.stdout, x.stderr); err != nil {
		return fmt.Errorf("%s: %w", c.spec.Name, err)
	}
	return nil
}

func (c containerdRunOnce) Script(ctx context.Context, x *executor) (string, error) {
	s, err := c.r.entrypoint(ctx, x, c.spec)
	if err != nil {
		return "", err
	}
	var lines []string
	if c.replace {
		for _, st := range c.r.ctrRemove(s.Name) {
			l, _ := st.Script(ctx, x)
			lines = append(lines, l)
		}
	}
	return strings.Join(append(lines, ShellCommand(c.r.ctrRun(s, false))), "\n"), nil
}
