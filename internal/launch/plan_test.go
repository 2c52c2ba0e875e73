package launch

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ckubelet/ckubelet/internal/testenv"
)

// testExecutor runs nothing and talks to no containerd.
func testExecutor() *executor {
	return &executor{stdout: io.Discard, stderr: io.Discard, containerdOpts: ContainerdOptions{Address: "/nonexistent/containerd.sock"},
		run: func(context.Context, []string, io.Writer, io.Writer) error { return nil }}
}

// recordingEngines writes stubs for the engines and systemctl that print their argv, one word
// per line, then a blank line: a POSIX shell runs the printed commands through them.
func recordingEngines(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "argv.log")
	for _, name := range []string{"docker", "podman", "nerdctl", "systemctl"} {
		stub := "#!/bin/sh\n{ printf '%s\\n' \"${0##*/}\"; for w in \"$@\"; do printf '%s\\n' \"$w\"; done; echo; } >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// TestPrintedCommandsAreExecuted runs each command of a printed plan through sh and checks that
// it executes exactly the argv the executed plan runs, for every CLI runtime and for the systemd
// unit's commands.
func TestPrintedCommandsAreExecuted(t *testing.T) {
	testenv.LookPath(t, "sh")
	dir, log := recordingEngines(t)
	for _, runtime := range []string{"docker", "podman", "nerdctl", "systemd"} {
		t.Run(runtime, func(t *testing.T) {
			o := Options{Runtime: runtime, Image: "kubelet:v1.37.2-kubeadm-trixie", Replace: true, Load: "/srv/bundle/images.tar",
				Host: &Host{CgroupV2: true, SystemdPID1: true}, Exists: allExist,
				Mounts:      []Mount{{Source: "/srv/data", Destination: "/srv/data", Propagation: RShared}},
				KubeletArgs: []string{"--node-labels=team=it's ok", "--v=2"},
				KubeadmArgs: []string{"10.0.0.1:6443", "--token", "abcdef.0123456789abcdef"},
			}
			p, err := PlanJoin(&o)
			if err != nil {
				t.Fatal(err)
			}
			var executed [][]string
			x := &executor{stdout: io.Discard, stderr: io.Discard, run: func(_ context.Context, argv []string, _, _ io.Writer) error {
				executed = append(executed, argv)
				return nil
			}}
			var printed [][]string
			for _, st := range p.Steps {
				c, ok := st.(command)
				if !ok {
					continue
				}
				// The executed plan reads the flags kubeadm wrote; the script sources them.
				words := slices.Clone(c.words())
				if i := slices.Index(words, KubeadmArgsPlaceholder); i >= 0 {
					words = slices.Concat(words[:i], []string{"--node-labels=a=b", "--v=4"}, words[i+1:])
				}
				x.run(context.Background(), words, nil, nil)
				script, _ := c.Script(context.Background(), x)
				os.Remove(log)
				sh := exec.Command("sh", "-c", "KUBELET_KUBEADM_ARGS='--node-labels=a=b --v=4'\n"+script)
				sh.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
				if out, err := sh.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", script, err, out)
				}
				b, _ := os.ReadFile(log)
				for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n") {
					if rec != "" {
						printed = append(printed, strings.Split(rec, "\n"))
					}
				}
			}
			if len(executed) == 0 || !slices.Contains(executed[0], "load") {
				t.Fatalf("commands %q, want a load first", executed)
			}
			if !slices.EqualFunc(executed, printed, slices.Equal[[]string]) {
				t.Errorf("executed:\n%q\nprinted:\n%q", executed, printed)
			}
		})
	}
}

// TestPlanSteps checks what run and join plans do, in order, on a systemd cgroup v2 host.
func TestPlanSteps(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	host := &Host{CgroupV2: true, SystemdPID1: true}
	kinds := func(p *Plan) string {
		var out []string
		for _, s := range p.Steps {
			switch s := s.(type) {
			case command:
				out = append(out, s.words()[0]+" "+s.words()[1])
			case writeFile:
				out = append(out, "write "+filepath.Base(s.path))
			case mkdirs:
				out = append(out, "mkdir")
			case sharedCheck:
				out = append(out, "check shared")
			case containerdStart:
				out = append(out, "containerd start")
			case containerdRunOnce:
				out = append(out, "containerd run-once")
			case sourceKubeadmFlags:
				out = append(out, "source flags")
			case waitBootstrap:
				out = append(out, "wait bootstrap")
			case systemdCheck:
				out = append(out, "check systemd")
			case note:
				out = append(out, "note")
			}
		}
		return strings.Join(out, ", ")
	}
	for _, tt := range []struct {
		name string
		o    Options
		join bool
		want string
	}{
		{"run docker", Options{Runtime: "docker", ConfigPath: config, Mounts: []Mount{{Source: dir, Destination: dir, Propagation: RShared}}}, false,
			"check shared, mkdir, write config.yaml, docker run"},
		{"run containerd, replace", Options{Runtime: "containerd", Replace: true}, false,
			"check shared, mkdir, containerd start"},
		{"run systemd", Options{Runtime: "systemd", Engine: Podman, ConfigPath: config, Mounts: []Mount{{Source: dir, Destination: dir}}}, false,
			"check shared, mkdir, write config.yaml, check systemd, write kubelet.service, systemctl daemon-reload, systemctl enable, systemctl restart"},
		{"join nerdctl", Options{Runtime: "nerdctl", BootstrapWait: 1}, true,
			"check shared, mkdir, write kubeletconfiguration+merge.yaml, nerdctl --namespace, source flags, nerdctl --namespace, wait bootstrap"},
		{"join containerd", Options{Runtime: "containerd"}, true,
			"check shared, mkdir, write kubeletconfiguration+merge.yaml, containerd run-once, source flags, containerd start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Image, o.Host, o.Exists = "kubelet:v1.37.2-kubeadm-trixie", host, allExist
			o.KubeadmArgs = []string{"x:6443"}
			var p *Plan
			var err error
			if tt.join {
				p, err = PlanJoin(&o)
			} else {
				p, err = PlanRun(&o)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(p); got != tt.want {
				t.Errorf("steps: %s\nwant:  %s", got, tt.want)
			}
		})
	}
}

// TestPrint checks that --print writes nothing and prints the plan as a script.
func TestPrint(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	o := Options{
		Runtime: "docker", Image: "kubelet:v1.37.2-trixie", Print: true, ConfigPath: config,
		Mounts: []Mount{{Source: dir, Destination: "/elsewhere", Propagation: RShared}, {Source: dir, Destination: dir, Propagation: RShared}},
		Host:   &Host{}, Exists: allExist,
	}
	var out, errb bytes.Buffer
	o.Stdout, o.Stderr = &out, &errb
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(config); err == nil {
		t.Fatal("--print wrote the configuration")
	}
	for _, want := range []string{
		"#!/bin/sh\n# cgroup v1, cgroup driver cgroupfs (PID 1 is not systemd)\n",
		"# WARNING: --mount " + dir + ":/elsewhere: source and destination differ",
		"set -e\n",
		"findmnt -no PROPAGATION",
		"cat > " + config + ".tmp <<'EOF'\napiVersion: kubelet.config.k8s.io/v1beta1\n",
		"cgroupDriver: cgroupfs\nclusterDomain: cluster.local\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\nfailCgroupV1: false\n",
		"mv -f " + config + ".tmp " + config + "\n",
		"docker run \\\n    --detach \\\n",
		"    kubelet:v1.37.2-trixie --config=" + config + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("script lacks %q:\n%s", want, out.String())
		}
	}
}

// TestScriptRuns runs a printed plan's file steps with sh and compares the files with the ones
// the executed plan writes.
func TestScriptWritesWhatRunWrites(t *testing.T) {
	testenv.LookPath(t, "sh")
	content := "apiVersion: x\nEOF\nkind: y $HOME `id` \\n\n"
	ran, printed := filepath.Join(t.TempDir(), "a", "f.yaml"), filepath.Join(t.TempDir(), "b", "f.yaml")
	if err := (writeFile{path: ran, content: fileContent([]byte(content))}).Do(context.Background(), testExecutor()); err != nil {
		t.Fatal(err)
	}
	script, err := writeFile{path: printed, content: fileContent([]byte(content))}.Script(context.Background(), testExecutor())
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-ec", script).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, script, out)
	}
	a, _ := os.ReadFile(ran)
	b, _ := os.ReadFile(printed)
	if string(a) != content || string(b) != content {
		t.Errorf("run wrote %q, the script %q; want %q", a, b, content)
	}
}

// TestLoadSteps checks where a bundle's images go: into the store of whatever runs kubelet and
// into the one the CRI runtime runs pods from, once when they are the same.
func TestLoadSteps(t *testing.T) {
	for _, tc := range []struct {
		runtime string
		engine  Engine
		cri     string
		want    []string
	}{
		{"containerd", "", "containerd", []string{"ctr --namespace k8s.io images import /b/images.tar"}},
		{"docker", "", "containerd", []string{"docker load --input /b/images.tar", "ctr --namespace k8s.io images import /b/images.tar"}},
		{"systemd", Podman, "containerd", []string{"podman load --input /b/images.tar", "ctr --namespace k8s.io images import /b/images.tar"}},
		{"systemd", Containerd, "containerd", []string{"ctr --namespace k8s.io images import /b/images.tar"}},
		{"nerdctl", "", "containerd", []string{"nerdctl --namespace k8s.io load --input /b/images.tar"}},
		{"podman", "", "crio", []string{"podman load --input /b/images.tar"}},
	} {
		o := Options{Runtime: tc.runtime, Engine: tc.engine, Image: "kubelet:v1", Load: "/b/images.tar", CRI: CRIs[tc.cri], Host: &Host{}, Exists: allExist}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		rt, err := newRuntime(&o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range loadSteps(&o, rt) {
			line, err := s.Script(context.Background(), &executor{})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, line)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s with %s: %q, want %q", tc.runtime, tc.engine, tc.cri, got, tc.want)
		}
	}
}

// TestExecuteWarns checks that run, not only --print, tells the user about a mount whose
// source and destination differ.
func TestExecuteWarns(t *testing.T) {
	for _, tc := range []struct {
		mount Mount
		want  string
	}{
		{Mount{Source: "/data", Destination: "/elsewhere"}, "ckubelet: warning: --mount /data:/elsewhere: source and destination differ"},
		{Mount{Source: "/data", Destination: "/data"}, ""},
	} {
		o := Options{Mounts: []Mount{tc.mount}}
		var stderr bytes.Buffer
		if err := (&Plan{Warnings: o.warnings()}).Execute(context.Background(), &executor{stdout: io.Discard, stderr: &stderr}); err != nil {
			t.Fatal(err)
		}
		if got := stderr.String(); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("--mount %s:%s: stderr %q, want %q", tc.mount.Source, tc.mount.Destination, got, tc.want)
		}
	}
}
