package launch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"sigs.k8s.io/yaml"
)

// KubeletSettings are the fields of kubelet's configuration that depend on the host and the
// runtime rather than on the cluster. Empty fields are left as they are.
type KubeletSettings struct {
	CgroupDriver string // "systemd" or "cgroupfs"
	// CgroupV1 sets failCgroupV1: false: kubelet ≥ 1.35 refuses to start on cgroup v1 otherwise
	// (older kubelets ignore the field).
	CgroupV1 bool
	// ContainerRuntimeEndpoint is the CRI socket, e.g. unix:///run/containerd/containerd.sock.
	ContainerRuntimeEndpoint string
}

// SettingsFor returns the settings of a host and a CRI runtime; driver, when not empty, overrides
// the detected cgroup driver.
func SettingsFor(h Host, cri CRI, driver string) KubeletSettings {
	if driver == "" {
		driver = h.CgroupDriver()
	}
	return KubeletSettings{CgroupDriver: driver, CgroupV1: !h.CgroupV2, ContainerRuntimeEndpoint: cri.Endpoint}
}

// ClusterSettings are what a kubelet configuration written without kubeadm needs to know about
// the cluster.
type ClusterSettings struct {
	// DNS are the cluster DNS service's addresses (kubelet's clusterDNS): pods with the default
	// ClusterFirst DNS policy resolve through them. Empty leaves pods with the node's resolver,
	// and kubelet says so in every pod's events.
	DNS []string
	// Domain is the cluster's DNS domain; default cluster.local.
	Domain string
}

// ClientCAFile is the cluster CA kubeadm writes and a bootstrap kubeconfig refers to: kubelet
// authenticates the API server's client certificate against it when the API server proxies
// `kubectl exec`, `logs`, `attach` and `port-forward` to the node.
const ClientCAFile = "/etc/kubernetes/pki/ca.crt"

// newKubeletConfig is what a fresh configuration holds besides the host's settings: what kubeadm
// writes that does not depend on the host. Anonymous access to kubelet's API (exec, logs,
// port-forward on :10250) is off; the API server authenticates with its client certificate,
// checked against the cluster CA, or with a bearer token checked by the TokenReview webhook, and
// requests are authorized by the API server (SubjectAccessReview), as kubeadm configures it.
// rotateCertificates renews the client certificate the TLS bootstrap obtained; static pods are
// read from kubeadm's manifest directory.
func newKubeletConfig(c ClusterSettings) map[string]any {
	domain := c.Domain
	if domain == "" {
		domain = "cluster.local"
	}
	cfg := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": ClientCAFile},
		},
		"authorization":      map[string]any{"mode": "Webhook"},
		"rotateCertificates": true,
		"staticPodPath":      StaticPodDir,
		"clusterDomain":      domain,
	}
	if len(c.DNS) > 0 {
		cfg["clusterDNS"] = slices.Clone(c.DNS)
	}
	return cfg
}

// KubeletConfig merges s into a KubeletConfiguration (kubelet.config.k8s.io/v1beta1), the YAML or
// JSON of existing, or a new one when existing is empty. Fields other than s's are kept; the
// result is YAML with sorted keys (comments are not kept). changes describes what was set
// differently, for the user.
func KubeletConfig(existing []byte, s KubeletSettings, c ClusterSettings) (out []byte, changes []string, err error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(existing)) == 0 {
		b, _ := json.Marshal(newKubeletConfig(c))
		json.Unmarshal(b, &doc) // plain JSON types, as a parsed file has
	} else {
		j, err := yaml.YAMLToJSON(existing)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing kubelet configuration: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber() // keep integers exact
		if err := dec.Decode(&doc); err != nil || doc == nil {
			return nil, nil, fmt.Errorf("kubelet configuration is not a YAML mapping")
		}
		if doc["kind"] != "KubeletConfiguration" {
			return nil, nil, fmt.Errorf("kubelet configuration has kind %v, want KubeletConfiguration", doc["kind"])
		}
		if av := doc["apiVersion"]; av != "kubelet.config.k8s.io/v1beta1" {
			return nil, nil, fmt.Errorf("kubelet configuration has apiVersion %v, want kubelet.config.k8s.io/v1beta1", av)
		}
	}
	set := func(key string, v any) {
		if old, ok := doc[key]; !ok || fmt.Sprint(old) != fmt.Sprint(v) {
			if ok {
				changes = append(changes, fmt.Sprintf("%s: %v (was %v)", key, v, old))
			} else {
				changes = append(changes, fmt.Sprintf("%s: %v", key, v))
			}
			doc[key] = v
		}
	}
	if s.CgroupDriver != "" {
		set("cgroupDriver", s.CgroupDriver)
	}
	if s.CgroupV1 {
		set("failCgroupV1", false)
	}
	if s.ContainerRuntimeEndpoint != "" {
		set("containerRuntimeEndpoint", s.ContainerRuntimeEndpoint)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	out, err = yaml.JSONToYAML(j)
	return out, changes, err
}

// ConfigAction is what WriteKubeletConfig does, or would do.
type ConfigAction int

const (
	ConfigCreate ConfigAction = iota // no configuration yet: write a new one
	ConfigMerge                      // --force: merge the settings into the existing one
	ConfigKeep                       // a configuration exists and is left alone
	ConfigSame                       // the existing configuration already agrees
)

// ConfigPlan is the outcome of planning the kubelet configuration.
type ConfigPlan struct {
	Path    string
	Action  ConfigAction
	Content []byte   // what to write (Create, Merge)
	Changes []string // settings that differ from the existing file (or are new)
}

// PlanKubeletConfig decides what to do with the configuration at path: create it when absent,
// merge into it only with force (never clobber an operator's file), otherwise keep it and report
// the settings it disagrees with.
func PlanKubeletConfig(path string, s KubeletSettings, c ClusterSettings, force bool) (ConfigPlan, error) {
	existing, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		out, changes, err := KubeletConfig(nil, s, c)
		return ConfigPlan{Path: path, Action: ConfigCreate, Content: out, Changes: changes}, err
	case err != nil:
		return ConfigPlan{}, err
	}
	out, changes, err := KubeletConfig(existing, s, c)
	if err != nil {
		return ConfigPlan{}, fmt.Errorf("%s: %w", path, err)
	}
	p := ConfigPlan{Path: path, Action: ConfigKeep, Changes: changes}
	switch {
	case len(changes) == 0:
		p.Action = ConfigSame
	case force:
		p.Action, p.Content = ConfigMerge, out
	}
	return p, nil
}

// step is the plan step carrying out the configuration plan: a write, or a note.
func (p ConfigPlan) step() Step {
	if p.Action != ConfigCreate && p.Action != ConfigMerge {
		return note(p.Describe())
	}
	return writeFile{path: p.Path, content: fileContent(p.Content), note: joinChanges(p.Changes)}
}

// Where ckubelet join puts the host's kubelet settings for kubeadm (`kubeadm join --patches`):
// kubeadm merges the patch into the KubeletConfiguration it writes, so kubelet starts with the
// host's cgroup driver from its first run.
const (
	KubeadmPatchesDir = "/var/lib/kubelet/ckubelet-patches"
	KubeadmPatchPath  = KubeadmPatchesDir + "/kubeletconfiguration+merge.yaml"
)

// KubeletPatch is a JSON merge patch (as YAML) of a KubeletConfiguration setting s. The CRI
// endpoint is left to kubeadm, which takes it from --cri-socket.
func KubeletPatch(s KubeletSettings) ([]byte, error) {
	doc := map[string]any{}
	if s.CgroupDriver != "" {
		doc["cgroupDriver"] = s.CgroupDriver
	}
	if s.CgroupV1 {
		doc["failCgroupV1"] = false
	}
	return yaml.Marshal(doc)
}

// Describe says what the plan does, in one line.
func (p ConfigPlan) Describe() string {
	switch p.Action {
	case ConfigCreate:
		return fmt.Sprintf("writing %s: %s", p.Path, joinChanges(p.Changes))
	case ConfigMerge:
		return fmt.Sprintf("updating %s: %s", p.Path, joinChanges(p.Changes))
	case ConfigKeep:
		return fmt.Sprintf("keeping %s, which differs from this host's settings (%s); pass --force to update it", p.Path, joinChanges(p.Changes))
	default:
		return fmt.Sprintf("%s already agrees with this host", p.Path)
	}
}

func joinChanges(c []string) string {
	var b bytes.Buffer
	for i, s := range c {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}
