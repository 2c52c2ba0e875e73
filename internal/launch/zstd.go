package launch

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ckubelet's images have zstd layers by default. Engines read them from these releases on;
// an older engine can run such an image only if it already has it, loaded from an archive built
// with --compression gzip.
var (
	// docker 23, through containerd's image store or its own; the daemon pulls, so the
	// server's version counts.
	dockerZstd = &zstdSupport{since: [2]int{23, 0}, versionFormat: "{{.Server.Version}}"}
	// podman 3, through containers/image, in the CLI's own process.
	podmanZstd = &zstdSupport{since: [2]int{3, 0}, versionFormat: "{{.Client.Version}}"}
	// containerd 1.5 (nerdctl pulls through it).
	containerdZstdSince = [2]int{1, 5}
)

// zstdSupport is when a CLI engine began to read zstd layers, and how to ask its version.
type zstdSupport struct {
	since         [2]int
	versionFormat string // the --format of `ENGINE version` that prints the version that pulls
}

// olderThan reports whether version ("20.10.24", "v1.7.24~ds1") is older than min; an
// unparsable version is not, so that a check never refuses an engine it cannot read.
func olderThan(version string, min [2]int) bool {
	v := strings.TrimPrefix(strings.TrimSpace(version), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return major < min[0] || major == min[0] && minor < min[1]
}

// zstdError says what to do when an engine cannot pull the image's zstd layers.
func zstdError(engine, version, image string, min [2]int) error {
	return fmt.Errorf("%s %s cannot pull zstd-compressed layers (%s %d.%d can), and %s is not in its image store: load an archive of it, or build it with --compression gzip",
		engine, strings.TrimSpace(version), engine, min[0], min[1], image)
}

// cliPullCheck refuses, before anything starts, an image the engine would have to pull but could
// not read.
type cliPullCheck struct {
	e     *cliEngine
	image string
}

func (c cliPullCheck) versionCommand() []string {
	return c.e.cmd("version", "--format", c.e.zstd.versionFormat)
}

func (c cliPullCheck) Do(ctx context.Context, x *executor) error {
	if c.e.zstd == nil {
		return nil
	}
	min := c.e.zstd.since
	if x.run(ctx, c.e.cmd("image", "inspect", c.image), io.Discard, io.Discard) == nil {
		return nil
	}
	var out strings.Builder
	if err := x.run(ctx, c.versionCommand(), &out, io.Discard); err != nil {
		return nil // the run step says what is wrong with the engine
	}
	if olderThan(out.String(), min) {
		return zstdError(c.e.name, out.String(), c.image, min)
	}
	return nil
}

func (c cliPullCheck) Script(context.Context, *executor) (string, error) {
	if c.e.zstd == nil {
		return "", nil
	}
	min := c.e.zstd.since
	return fmt.Sprintf(`# ckubelet's images have zstd layers, which %[1]s pulls from %[2]d.%[3]d on.
if ! %[4]s >/dev/null 2>&1; then
    v=$(%[5]s)
    if [ "$(printf '%%s\n' "$v" %[2]d.%[3]d | sort -V | head -n 1)" != %[2]d.%[3]d ]; then
        echo "%[1]s $v cannot pull zstd-compressed layers: load the image, or build it with --compression gzip" >&2; exit 1
    fi
fi`, c.e.name, min[0], min[1], ShellCommand([][]string{c.e.cmd("image", "inspect", c.image)}), ShellCommand([][]string{c.versionCommand()})), nil
}

// containerdPullCheck is cliPullCheck for the containerd Go client.
type containerdPullCheck struct{ image string }

func (c containerdPullCheck) Do(ctx context.Context, x *executor) error {
	client, err := x.client(ctx)
	if err != nil {
		return nil // the start step says what is wrong with the daemon
	}
	if _, err := client.image(ctx, c.image); err == nil {
		return nil
	}
	v, err := client.client.Version(ctx)
	if err != nil {
		return nil
	}
	if min := containerdZstdSince; olderThan(v.Version, min) {
		return zstdError("containerd", v.Version, c.image, min)
	}
	return nil
}

func (c containerdPullCheck) Script(context.Context, *executor) (string, error) {
	return "# containerd pulls zstd-compressed layers from 1.5 on", nil
}
