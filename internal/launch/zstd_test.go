package launch

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestOlderThan(t *testing.T) {
	for _, tt := range []struct {
		v    string
		min  [2]int
		want bool
	}{
		{"20.10.24", [2]int{23, 0}, true}, {"23.0.0", [2]int{23, 0}, false}, {"26.1.5+dfsg1", [2]int{23, 0}, false},
		{"2.9.1", [2]int{3, 0}, true}, {"5.4.2", [2]int{3, 0}, false},
		{"v1.4.13", [2]int{1, 5}, true}, {"1.7.24~ds1", [2]int{1, 5}, false}, {"1.6.20~ds1", [2]int{1, 5}, false},
		{"garbage", [2]int{23, 0}, false}, {"", [2]int{23, 0}, false},
	} {
		if got := olderThan(tt.v, tt.min); got != tt.want {
			t.Errorf("olderThan(%q, %v) = %v", tt.v, tt.min, got)
		}
	}
}

// TestPullCheck runs the check of an engine that would have to pull, as executed and as the
// printed script does it, with docker stubs answering the version.
func TestPullCheck(t *testing.T) {
	for _, tt := range []struct {
		version string
		present bool
		refuse  bool
	}{{"20.10.24", false, true}, {"20.10.24", true, false}, {"26.1.5", false, false}} {
		c := cliPullCheck{e: &cliEngine{name: "docker", zstd: dockerZstd}, image: "kubelet:v1.37.2-trixie"}
		x := &executor{stdout: io.Discard, stderr: io.Discard, run: func(_ context.Context, argv []string, stdout, _ io.Writer) error {
			switch argv[1] {
			case "image":
				if !tt.present {
					return errors.New("no such image")
				}
			case "version":
				io.WriteString(stdout, tt.version+"\n")
			}
			return nil
		}}
		err := c.Do(context.Background(), x)
		if tt.refuse != (err != nil) || err != nil && !strings.Contains(err.Error(), "build it with --compression gzip") {
			t.Errorf("docker %s, image present %v: %v", tt.version, tt.present, err)
		}
		if _, err := exec.LookPath("sh"); err != nil {
			continue
		}
		dir := t.TempDir()
		inspect := "exit 1"
		if tt.present {
			inspect = "exit 0"
		}
		stub := "#!/bin/sh\ncase $1 in image) " + inspect + ";; version) echo " + tt.version + ";; esac\n"
		os.WriteFile(filepath.Join(dir, "docker"), []byte(stub), 0o755)
		script, _ := c.Script(context.Background(), x)
		sh := exec.Command("sh", "-ec", script)
		sh.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
		out, err := sh.CombinedOutput()
		if tt.refuse != (err != nil) {
			t.Errorf("script, docker %s, image present %v: %v\n%s\n%s", tt.version, tt.present, err, script, out)
		}
	}
}
