package launch

import (
	"strings"
	"testing"
)

// A systemd host: / shared; /var/lib/kubelet on a private disk mount; a path with a space.
const mountinfoSample = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 8:17 / /var/lib/kubelet rw,relatime - ext4 /dev/sdb1 rw
41 22 8:33 / /mnt/my\040disk rw,relatime shared:30 master:2 - ext4 /dev/sdc1 rw
`

func TestParseMountinfo(t *testing.T) {
	es, err := parseMountinfo(mountinfoSample)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 || es[3].mountPoint != "/mnt/my disk" || !es[3].shared() || es[2].shared() {
		t.Errorf("entries: %+v", es)
	}
	if _, err := parseMountinfo("1 2 3\n"); err == nil {
		t.Error("malformed line: want an error")
	}
}

func TestCheckShared(t *testing.T) {
	spec := func(srcs ...string) Spec {
		var s Spec
		for _, p := range srcs {
			s.Mounts = append(s.Mounts, Mount{Source: p, Destination: p, Propagation: RShared})
		}
		s.Mounts = append(s.Mounts, Mount{Source: "/var/lib/kubelet/x", Destination: "/x", Propagation: RSlave}) // not checked
		return s
	}
	for _, tt := range []struct {
		srcs []string
		err  string
	}{
		{[]string{"/srv/data", "/mnt/my disk/vol"}, ""},
		{[]string{"/does/not/exist/yet"}, ""}, // checked at /, where it will be created
		{[]string{"/var/lib/kubelet"}, "/var/lib/kubelet is on mount /var/lib/kubelet, which is not shared"},
		{[]string{"/var/lib/kubelet/pods"}, "`mount --make-rshared /var/lib/kubelet`"},
	} {
		err := checkShared(spec(tt.srcs...), mountinfoSample)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkShared(%q) = %v, want %q", tt.srcs, err, tt.err)
		}
	}
	// A later mount on the same point hides the earlier one.
	over := mountinfoSample + "50 40 0:50 / /var/lib/kubelet rw shared:44 - tmpfs tmpfs rw\n"
	if err := checkShared(spec("/var/lib/kubelet"), over); err != nil {
		t.Errorf("mounted over with a shared mount: %v", err)
	}
}
