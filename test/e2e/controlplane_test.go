//go:build e2e || conformance || vm

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const apiServerPort = "6443"

// apiServerURL is where the node reaches the API server: the node address, as in a real cluster
// (the advertise address may not be a loopback one).
var apiServerURL = "https://" + net.JoinHostPort(nodeIP, apiServerPort)

// controlPlane is etcd, kube-apiserver, kube-controller-manager and kube-scheduler of the node's
// Kubernetes version, built from source by ckubelet's component builder, as processes in the
// sandbox.
type controlPlane struct {
	pki    *pki
	admin  *rest.Config
	client *kubernetes.Clientset
	procs  []*process
}

type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func (s *state) logPath(name string) string { return s.path("logs", name+".log") }

func startProcess(t *testing.T, s *state, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: s.logPath(name), exited: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(p.log), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	return p
}

func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) running() error {
	select {
	case <-p.exited:
		return fatal(fmt.Errorf("%s exited: %v\n%s", p.name, p.cmd.ProcessState, tail(p.log, 30)))
	default:
		return nil
	}
}

// startControlPlane generates the PKI, starts the four components and waits until the API server
// is ready.
// controlPlaneArgs issues the control plane's certificates and kubeconfigs into p and returns
// the arguments of etcd, kube-apiserver, kube-controller-manager and kube-scheduler, in start
// order. The components read the PKI at p.at's paths, keep etcd's data in etcdDir, and the API
// server advertises advertise; ips are more addresses its certificate names.
func controlPlaneArgs(p *pki, etcdDir, advertise string, ips ...net.IP) (args [][]string, adminConf string, err error) {
	if _, _, err := p.issue("apiserver", certSpec{
		cn: "kube-apiserver", server: true,
		dns: []string{"localhost", nodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips: append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(advertise), net.ParseIP("10.96.0.1")}, ips...),
	}); err != nil {
		return nil, "", err
	}
	// kubeadm's name for the API server's client certificate towards kubelets (logs, exec).
	if _, _, err := p.issue("apiserver-kubelet-client", certSpec{cn: "kube-apiserver-kubelet-client"}); err != nil {
		return nil, "", err
	}
	local := "https://127.0.0.1:" + apiServerPort
	if adminConf, err = p.kubeconfig("admin", local, certSpec{cn: "kubernetes-admin", orgs: []string{"system:masters"}}); err != nil {
		return nil, "", err
	}
	if _, err := p.kubeconfig("controller-manager", local, certSpec{cn: "system:kube-controller-manager"}); err != nil {
		return nil, "", err
	}
	if _, err := p.kubeconfig("scheduler", local, certSpec{cn: "system:kube-scheduler"}); err != nil {
		return nil, "", err
	}
	at := p.at
	kcmConf, schedConf := at("controller-manager.conf"), at("scheduler.conf")
	return [][]string{
		{"etcd",
			"--name=e2e", "--data-dir=" + etcdDir,
			"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
			"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
			"--initial-cluster=e2e=http://127.0.0.1:2380",
			"--unsafe-no-fsync", "--log-level=warn"},
		{"kube-apiserver",
			"--etcd-servers=http://127.0.0.1:2379",
			"--bind-address=0.0.0.0", "--secure-port=" + apiServerPort, "--advertise-address=" + advertise,
			"--tls-cert-file=" + at("apiserver.crt"), "--tls-private-key-file=" + at("apiserver.key"),
			"--client-ca-file=" + at("ca.crt"),
			"--kubelet-client-certificate=" + at("apiserver-kubelet-client.crt"),
			"--kubelet-client-key=" + at("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP,Hostname",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + at("sa.pub"),
			"--service-account-signing-key-file=" + at("sa.key"),
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--enable-bootstrap-token-auth=true",
			"--allow-privileged=true",
			"--profiling=false"},
		{"kube-controller-manager",
			"--kubeconfig=" + kcmConf,
			"--authentication-kubeconfig=" + kcmConf, "--authorization-kubeconfig=" + kcmConf,
			"--bind-address=127.0.0.1", "--leader-elect=false",
			// bootstrapsigner signs cluster-info for token discovery, tokencleaner removes expired
			// tokens: both are off by default and on in kubeadm clusters.
			"--controllers=*,bootstrapsigner,tokencleaner",
			"--use-service-account-credentials=true",
			"--root-ca-file=" + at("ca.crt"),
			"--service-account-private-key-file=" + at("sa.key"),
			"--cluster-signing-cert-file=" + at("ca.crt"), "--cluster-signing-key-file=" + at("ca.key"),
			"--allocate-node-cidrs=true", "--cluster-cidr=" + podCIDR, "--node-cidr-mask-size=24",
			"--service-cluster-ip-range=" + serviceCIDR,
			"--profiling=false"},
		{"kube-scheduler",
			"--kubeconfig=" + schedConf,
			"--authentication-kubeconfig=" + schedConf, "--authorization-kubeconfig=" + schedConf,
			"--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false"},
	}, adminConf, nil
}

func startControlPlane(t *testing.T, s *state) *controlPlane {
	t.Helper()
	began := time.Now()
	p, err := newPKI(s.path("pki"))
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{pki: p}
	t.Cleanup(func() {
		// Reverse start order: the API server goes before etcd.
		for i := len(cp.procs) - 1; i >= 0; i-- {
			cp.procs[i].stop()
		}
	})
	args, adminConf, err := controlPlaneArgs(p, s.path("etcd"), nodeIP)
	if err != nil {
		t.Fatal(err)
	}
	start := func(a []string) *process {
		proc := startProcess(t, s, a[0], s.Bin[a[0]], a[1:]...)
		cp.procs = append(cp.procs, proc)
		return proc
	}
	etcd := start(args[0])
	waitFor(t, "etcd", 60*time.Second, func() error {
		if err := etcd.running(); err != nil {
			return err
		}
		return httpOK(http.DefaultClient, "http://127.0.0.1:2379/health")
	})
	apiserver := start(args[1])
	if cp.admin, err = clientcmd.BuildConfigFromFlags("", adminConf); err != nil {
		t.Fatal(err)
	}
	if cp.client, err = kubernetes.NewForConfig(cp.admin); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kube-apiserver /readyz", 3*time.Minute, func() error {
		if err := apiserver.running(); err != nil {
			return err
		}
		return cp.readyz()
	})
	start(args[2])
	start(args[3])
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, c := range []struct {
		proc *process
		url  string
	}{{cp.procs[2], "https://127.0.0.1:10257/healthz"}, {cp.procs[3], "https://127.0.0.1:10259/healthz"}} {
		waitFor(t, c.proc.name+" /healthz", 2*time.Minute, func() error {
			if err := c.proc.running(); err != nil {
				return err
			}
			return httpOK(insecure, c.url)
		})
	}
	t.Logf("control plane ready in %v", time.Since(began).Round(100*time.Millisecond))
	return cp
}

// readyz asks the API server whether it is ready.
func (cp *controlPlane) readyz() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body, err := cp.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%v: %s", err, body)
	}
	return nil
}

// check fails t if a control-plane process has exited.
func (cp *controlPlane) check(t *testing.T) {
	t.Helper()
	for _, p := range cp.procs {
		if err := p.running(); err != nil {
			t.Fatal(err)
		}
	}
}

func httpOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// waitFor polls check until it returns nil, failing t with check's last error after timeout.
// A check that wraps errStop fails at once.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

type stopError struct{ error }

// fatal marks an error that no retry can fix (a process exited).
func fatal(err error) error { return stopError{err} }

func poll(timeout time.Duration, check func() error) error {
	return pollEvery(timeout, time.Second, check)
}

func pollEvery(timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if se, ok := err.(stopError); ok {
			return se.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
