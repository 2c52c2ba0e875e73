package report

import (
	"bytes"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestLayerLabel(t *testing.T) {
	for _, tc := range []struct{ createdBy, want string }{
		{"ckubelet: kubelet v1.37.2 from k8s.io/kubernetes@v1.37.2 h1:abc", "kubelet v1.37.2"},
		{"ckubelet: userland from Debian trixie/amd64: util-linux iptables", "userland"},
		{"ckubelet: CNI plugins v1.10.0 [bridge loopback] and their installer", "CNI plugins v1.10.0"},
		{"ckubelet: pause 3.10.2 from Kubernetes' build/pause/linux/pause.c", "pause 3.10.2"},
		{"crictl v1.37.0", "crictl v1.37.0"},
		{"ckubelet: /usr/bin/kubelet v1.37.2 from k8s.io/kubernetes@v1.37.2 h1:abc", "kubelet v1.37.2"},
	} {
		if got := LayerLabel(tc.createdBy); got != tc.want {
			t.Errorf("LayerLabel(%q) = %q, want %q", tc.createdBy, got, tc.want)
		}
	}
}

func TestLayersMarkdown(t *testing.T) {
	layer := func(name string, compressed, extracted float64) LayerSize {
		return LayerSize{Digest: v1.Hash{Algorithm: "sha256", Hex: name}, CreatedBy: "ckubelet: " + name + " from somewhere",
			Compressed: mb(compressed), Extracted: mb(extracted)}
	}
	userland, kubelet, cni := layer("userland", 2, 8), layer("kubelet v1.37.2", 18, 90), layer("CNI plugins v1.10.0", 4, 12)
	proxyUserland, proxy := layer("userland", 3, 10), layer("kube-proxy v1.37.2", 15, 79)
	proxyUserland.Digest.Hex = "kube-proxy's userland" // same label, other content
	image := func(ls ...LayerSize) Size {
		s := Size{Platform: "linux/amd64", Layers: ls}
		for _, l := range ls {
			s.Compressed += l.Compressed
			s.Extracted += l.Extracted
		}
		return s
	}
	rows := []Row{
		row("v1.37.2", "cni", image(userland, kubelet, cni)),
		row("v1.37.2", "kubelet", image(userland, kubelet)),
		row("v1.37.2", "kube-proxy", image(proxyUserland, proxy)),
	}
	var b bytes.Buffer
	if err := LayersMarkdown(&b, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| kubelet | userland | 2.00 / 8.00 | — | — |",
		"| kubelet | kubelet v1.37.2 | 18.00 / 90.00 | — | — |",
		"| cni | CNI plugins v1.10.0 | 4.00 / 12.00 | — | — |",
		"| kube-proxy | userland | 3.00 / 10.00 | — | — |",
		"| kubelet | 1.11× | — | — |",
		"| kube-proxy | 1.20× | — | — |",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("missing row %q in\n%s", want, b.String())
		}
	}
	// A layer shared by several images is listed once, under the first.
	if n := strings.Count(b.String(), "kubelet v1.37.2 |"); n != 1 {
		t.Errorf("kubelet layer listed %d times, want once:\n%s", n, b.String())
	}
}
