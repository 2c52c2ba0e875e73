package rootfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
)

// The image has no shell and nobody logs in; root exists so tools that look up uid 0 find it.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n"
	group  = "root:x:0:\n"
)

// nsswitch names only "files" and "dns": since glibc 2.34 both are built into libc.so.6, and the
// image ships no other NSS module (systemd, myhostname, mdns), so naming one would only add failed
// loads. Without this file glibc asks DNS before /etc/hosts, and a cgo-built kubelet and the
// commands resolve names through glibc.
const nsswitch = `passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
`

// system plans what a root filesystem needs beyond the selected files.
func (pl *plan) system(spec Spec) error {
	if spec.CACertificates {
		if err := pl.caBundle(); err != nil {
			return err
		}
	}
	for p, content := range map[string]string{"etc/passwd": passwd, "etc/group": group, "etc/nsswitch.conf": nsswitch} {
		if err := pl.put(p, &node{kind: kindFile, data: []byte(content), origin: "Build"}); err != nil {
			return err
		}
	}
	for p, perm := range map[string]fs.FileMode{"tmp": fs.ModeSticky | 0o777, "run": 0o755, "root": 0o700} {
		if err := pl.mkdir(p, perm); err != nil {
			return err
		}
	}
	// e2fsprogs and older util-linux look for mounted filesystems in /etc/mtab; the link reaches
	// the container's /proc once the runtime mounts it.
	for p, link := range map[string]string{"var/run": "/run", "etc/mtab": "../proc/self/mounts"} {
		if err := pl.put(p, &node{kind: kindLink, link: link, origin: "Build"}); err != nil {
			return err
		}
	}
	aliases := []string{"bin", "sbin", "lib"}
	if pl.arch.lib64 {
		aliases = append(aliases, "lib64")
	}
	for _, a := range aliases {
		pl.aliases[a] = "usr/" + a
		if err := pl.mkdir("usr/"+a, 0o755); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(spec.Symlinks) {
		if err := pl.put(canon(p), &node{kind: kindLink, link: spec.Symlinks[p], origin: "Spec.Symlinks"}); err != nil {
			return err
		}
	}
	// Checked once all links exist, so they may point at each other.
	for _, p := range sortedKeys(spec.Symlinks) {
		_, _, missing, err := resolve(pl.lookup, p)
		if err == nil && missing != "" {
			err = fmt.Errorf("/%s is not in the image", missing)
		}
		if err != nil {
			return fmt.Errorf("symlink %s -> %s: %w", p, spec.Symlinks[p], err)
		}
	}
	return nil
}

// caBundle plans /etc/ssl/certs/ca-certificates.crt as update-ca-certificates writes it with
// every certificate enabled: the .crt files in sorted order, each ending in a newline.
func (pl *plan) caBundle() error {
	const pattern = "/usr/share/ca-certificates/**/*.crt"
	certs := pl.ix.glob(pattern)
	if len(certs) == 0 {
		return fmt.Errorf("CA certificates: no %s in the packages (add ca-certificates to Packages)", pattern)
	}
	var bundle bytes.Buffer
	owners := map[string]bool{}
	for _, c := range certs {
		final, _, missing, err := resolve(pl.ix.lookup, c)
		if err == nil && (missing != "" || pl.ix[final].kind != kindFile) {
			err = fmt.Errorf("not a file in the packages")
		}
		if err != nil {
			return fmt.Errorf("CA certificate /%s: %w", c, err)
		}
		data, err := os.ReadFile(pl.ix[final].src)
		if err != nil {
			return fmt.Errorf("CA certificate /%s: %w", c, err)
		}
		bundle.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			bundle.WriteByte('\n')
		}
		owners[pl.ix[final].pkg.Name] = true
	}
	return pl.put("etc/ssl/certs/ca-certificates.crt", &node{kind: kindFile, data: bundle.Bytes(), pkg: strings.Join(sortedKeys(owners), ","), origin: "CA certificates"})
}

var statusField = regexp.MustCompile(`(?mi)^Status:`)

// status plans /var/lib/dpkg/status.d/<name> for every package that contributed a file, the
// layout distroless images use and trivy, grype and syft read. It returns those packages' names.
func (pl *plan) status(pkgs []Package) ([]string, error) {
	byName := map[string]*Package{}
	for i := range pkgs {
		if _, ok := byName[pkgs[i].Name]; !ok {
			byName[pkgs[i].Name] = &pkgs[i]
		}
	}
	used := map[string]bool{}
	for _, n := range pl.nodes {
		for _, name := range strings.Split(n.pkg, ",") {
			if name != "" {
				used[name] = true
			}
		}
	}
	names := sortedKeys(used)
	for _, name := range names {
		p := byName[name]
		stanza := strings.Trim(p.Stanza, "\n")
		if stanza == "" {
			return nil, fmt.Errorf("package %s: no control stanza", name)
		}
		if !statusField.MatchString(stanza) {
			stanza = withStatus(stanza)
		}
		if err := pl.put(path.Join("var/lib/dpkg/status.d", name), &node{kind: kindFile, data: []byte(stanza + "\n"), origin: "Build"}); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// withStatus inserts the Status field after Package, where dpkg's status file has it.
func withStatus(stanza string) string {
	lines := strings.Split(stanza, "\n")
	at := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "Package:") {
			at = i + 1
			break
		}
	}
	lines = append(lines[:at], append([]string{"Status: install ok installed"}, lines[at:]...)...)
	return strings.Join(lines, "\n")
}
