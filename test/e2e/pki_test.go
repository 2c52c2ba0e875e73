//go:build e2e || conformance || vm

package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's certificate authority and the credentials the control plane and the test
// use, written as PEM files into dir, as kubeadm would into /etc/kubernetes/pki.
type pki struct {
	dir string
	// at is where the components read a file of the PKI from: path, unless they run elsewhere
	// (in a VM).
	at     func(name string) string
	ca     *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte
	CAHash string // kubeadm's --discovery-token-ca-cert-hash: sha256 of the CA's SubjectPublicKeyInfo
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// newPKI creates the CA and the service-account key pair.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kubernetes"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	p := &pki{dir: dir, ca: ca, caKey: key, caPEM: pemBlock("CERTIFICATE", der), CAHash: "sha256:" + hex.EncodeToString(sum[:])}
	p.at = p.path
	if err := p.write("ca.crt", p.caPEM); err != nil {
		return nil, err
	}
	if err := p.writeKey("ca.key", key); err != nil {
		return nil, err
	}
	// Service-account tokens: the API server verifies with sa.pub, signs with sa.key (as does the
	// controller manager's token controller).
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := p.writeKey("sa.key", sa); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(sa.Public())
	if err != nil {
		return nil, err
	}
	return p, p.write("sa.pub", pemBlock("PUBLIC KEY", pub))
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func (p *pki) write(name string, data []byte) error {
	return os.WriteFile(p.path(name), data, 0o600)
}

func (p *pki) writeKey(name string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return p.write(name, pemBlock("PRIVATE KEY", der))
}

// certSpec describes a leaf certificate signed by the CA.
type certSpec struct {
	cn     string
	orgs   []string
	server bool // serving certificate (else client)
	dns    []string
	ips    []net.IP
}

// issue writes NAME.crt and NAME.key, and returns their PEM.
func (p *pki) issue(name string, s certSpec) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM, keyPEM = pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", kder)
	if err := p.write(name+".crt", certPEM); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, p.write(name+".key", keyPEM)
}

// kubeconfig writes a kubeconfig for a client certificate of the CA, talking to server, with the
// certificates in it: it works wherever the component that reads it runs.
func (p *pki) kubeconfig(name, server string, s certSpec) (string, error) {
	certPEM, keyPEM, err := p.issue(name, s)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, server, b64(p.caPEM), s.cn, b64(certPEM), b64(keyPEM), s.cn)
	path := p.path(name + ".conf")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}
