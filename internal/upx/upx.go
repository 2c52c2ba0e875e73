// Package upx packs short-lived tool binaries (kubeadm, crictl, CNI plugins) with UPX and accepts a
// packed binary only after running it on its architecture. Daemons must not be packed: a packed
// binary cannot share pages and is decompressed into anonymous memory at every start.
package upx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ckubelet/ckubelet/internal/cache"
	"github.com/ckubelet/ckubelet/internal/catalog"
)

// flags are the upx options. A packed file is already compressed, so what an image pull sees is
// the packed size nearly as is, against the layer-compressed size of the unpacked binary. Measured
// (gzip -9, amd64): crictl 10.3 MB unpacked, 9.7 MB with --best (NRV), 7.5 MB with --best --lzma;
// a CNI plugin 2.4 / 2.2 / 1.8 MB; against zstd layers NRV is even larger than unpacked. NRV
// --best is also 10-30x slower to pack (crictl: 530 s vs 16 s). The price of LZMA is a slower
// start: decompression at every exec adds ~0.1 s to a CNI plugin, ~0.5 s to crictl on amd64.
var flags = []string{"--best", "--lzma"}

// cacheFormat changes whenever the key changes meaning, so stale entries are never hit.
const cacheFormat = 1

// cacheKind is the cache kind of packed binaries: v1/upx/<key>/content/<name>.
const cacheKind = "upx"

const (
	defaultProbeTimeout = 60 * time.Second
	// packTimeout bounds one upx run; kubeadm (75 MB) took 78 s on a busy 2-CPU machine.
	packTimeout = 10 * time.Minute
	// maxOutput caps what is kept of a probe's or upx's output.
	maxOutput = 1 << 20
)

// Packer packs non-daemon binaries with UPX and proves each packed binary still runs on its
// architecture before accepting it.
type Packer struct {
	Path string // upx or upx-ucl found on PATH
	// CacheDir holds packed binaries as CacheDir/v1/upx/<key>/content/<name>, verified before
	// every use (internal/cache); the key covers the input's SHA-256, the upx version, flags,
	// platform, name and probe.
	CacheDir string

	probeTimeout time.Duration // 0 means defaultProbeTimeout; tests shorten it
}

// Probe is how a packed binary proves it runs: its argv after the program name, its whole
// environment (nothing is inherited, so results do not depend on the caller's shell), and a
// substring its combined stdout and stderr must contain. It must also exit with status 0.
type Probe struct {
	Args []string
	Env  []string
	Want string // expected substring of the combined output; empty means exit status 0 suffices
}

// FallbackError is the reason Pack returned the unpacked binary; the caller ships src and reports it.
type FallbackError struct {
	Src      string
	Platform catalog.Platform
	Err      error
}

func (e *FallbackError) Error() string {
	return fmt.Sprintf("upx: %s (%s) ships unpacked: %v", filepath.Base(e.Src), e.Platform, e.Err)
}

func (e *FallbackError) Unwrap() error { return e.Err }

// Find returns a Packer using the upx (or Debian's upx-ucl) command on PATH.
func Find(cacheDir string) (*Packer, error) {
	for _, name := range []string{"upx", "upx-ucl"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		pk := &Packer{Path: path, CacheDir: cacheDir}
		if _, err := pk.version(context.Background()); err != nil {
			return nil, fmt.Errorf("%w; install upx-ucl: run hack/setup.sh", err)
		}
		return pk, nil
	}
	return nil, errors.New("no upx or upx-ucl command on PATH; install upx-ucl: run hack/setup.sh")
}

// Pack packs the binary at src for platform p, runs the packed copy with probe on p's architecture
// (natively, or under qemu-user invoked explicitly so binfmt settings do not matter), and returns the
// cached packed copy. If anything fails it returns src, false and a *FallbackError saying why, and the
// caller ships the unpacked binary; a cancelled ctx is reported the same way (errors.Is works).
// src is only read: upx works on a private copy. Concurrent calls are safe, for the same src too.
func (pk *Packer) Pack(ctx context.Context, src string, p catalog.Platform, probe Probe) (path string, packed bool, reason error) {
	path, err := pk.pack(ctx, src, p, probe)
	if err != nil {
		return src, false, &FallbackError{Src: src, Platform: p, Err: err}
	}
	return path, true, nil
}

func (pk *Packer) pack(ctx context.Context, src string, p catalog.Platform, probe Probe) (string, error) {
	if pk == nil || pk.Path == "" || pk.CacheDir == "" {
		return "", errors.New("packer has no upx path or cache directory")
	}
	version, err := pk.version(ctx)
	if err != nil {
		return "", err
	}
	sum, _, err := hashFile(src, nil)
	if err != nil {
		return "", err
	}
	name := filepath.Base(src)
	key, err := cacheKey(sum, version, p, name, probe)
	if err != nil {
		return "", err
	}
	c := cache.Cache{Dir: pk.CacheDir}
	dir, ok, err := c.Get(cacheKind, key)
	if err != nil {
		return "", err
	}
	if ok {
		return filepath.Join(dir, name), nil // accepted earlier: packed and probed with exactly these inputs
	}
	// Only a binary that passed its probe is put; a concurrent Pack of the same input that
	// finishes first leaves its (identical) entry, which is then used.
	dir, err = c.Put(cacheKind, key, func(dir string) error { return pk.packInto(ctx, dir, name, src, sum, p, probe) })
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// packInto packs src, whose SHA-256 is sum, into dir/name and runs the probe on it. dir holds
// nothing else afterwards.
func (pk *Packer) packInto(ctx context.Context, dir, name, src, sum string, p catalog.Platform, probe Probe) error {
	// upx gets a copy, hashed while copying: src cannot be touched, and what is packed is what was keyed.
	in, out := filepath.Join(dir, ".input"), filepath.Join(dir, name)
	defer os.Remove(in)
	copySum, srcSize, err := hashFile(src, &in)
	if err != nil {
		return err
	}
	if copySum != sum {
		return fmt.Errorf("%s changed while being packed", src)
	}

	pctx, cancel := context.WithTimeout(ctx, packTimeout)
	defer cancel()
	args := append(append([]string{}, flags...), "-q", "--no-progress", "-o", out, in)
	if msg, err := run(pctx, pk.Path, args, upxEnv()); err != nil {
		return fmt.Errorf("%s %s failed: %v%s", filepath.Base(pk.Path), strings.Join(flags, " "), describe(pctx, err), msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("upx wrote no output: %w", err)
	}
	if fi.Size() >= srcSize {
		return fmt.Errorf("packed size %d is not smaller than %d", fi.Size(), srcSize)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return err
	}
	if err := pk.runProbe(ctx, out, p, probe); err != nil {
		return err
	}
	return os.Remove(in)
}

// version is the first line of `upx --version` ("upx 4.2.2"); it is part of the cache key.
func (pk *Packer) version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, pk.Path, "--version")
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s --version: %v", pk.Path, describe(ctx, err))
	}
	line, _, _ := strings.Cut(buf.String(), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s --version printed nothing", pk.Path)
	}
	return line, nil
}

// runProbe runs bin with probe, on the host if it has p's architecture, else under qemu-user.
func (pk *Packer) runProbe(ctx context.Context, bin string, p catalog.Platform, probe Probe) error {
	argv, how, err := probeCommand(bin, p, probe.Args)
	if err != nil {
		return fmt.Errorf("probe failed: %w", err)
	}
	timeout := pk.probeTimeout
	if timeout == 0 {
		timeout = defaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := strings.Join(append([]string{filepath.Base(bin)}, probe.Args...), " ")
	env := probe.Env
	if env == nil {
		env = []string{} // non-nil: exec would otherwise inherit this process's environment
	}
	out, err := run(ctx, argv[0], argv[1:], env)
	if err != nil {
		return fmt.Errorf("probe `%s`%s failed: %v%s", shown, how, describe(ctx, err), out)
	}
	if probe.Want != "" && !strings.Contains(out, probe.Want) {
		return fmt.Errorf("probe `%s`%s failed: output lacks %q%s", shown, how, probe.Want, summarize(out))
	}
	return nil
}

// probeCommand is the argv running bin for p: qemu is invoked explicitly, never through binfmt,
// with a CPU model no newer than the platform's baseline so newer-only instructions are caught.
func probeCommand(bin string, p catalog.Platform, args []string) (argv []string, how string, err error) {
	if p.OS != "linux" {
		return nil, "", fmt.Errorf("cannot run %s binaries", p)
	}
	if runtime.GOOS == "linux" && p.GOARCH() == runtime.GOARCH {
		return append([]string{bin}, args...), "", nil
	}
	name, cpu := p.Qemu()
	qemu, err := exec.LookPath(name)
	if err != nil {
		return nil, "", fmt.Errorf("%s not found on PATH (install qemu-user-static: run hack/setup.sh)", name)
	}
	argv = []string{qemu}
	if cpu != "" {
		argv = append(argv, "-cpu", cpu)
	}
	return append(append(argv, bin), args...), " under " + filepath.Base(qemu), nil
}

// upxEnv is this process's environment without UPX, which upx reads as extra default options.
func upxEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UPX=") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs a command and returns its combined output; on failure the output is formatted for an
// error message by summarize, so callers can append it as is.
func run(ctx context.Context, name string, args, env []string) (string, error) {
	var buf capped
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 5 * time.Second // do not hang on a child that keeps the output pipe open
	err := cmd.Run()
	out := buf.String()
	if err != nil && cmd.ProcessState == nil {
		return "", err // never started: there is no output to show
	}
	if err != nil {
		return summarize(out), err
	}
	return out, nil
}

// summarize puts output on one line, shortened to its end, prefixed with ": ".
func summarize(out string) string {
	out = strings.Join(strings.Fields(out), " ")
	if out == "" {
		return " (no output)"
	}
	if len(out) > 300 {
		out = "…" + out[len(out)-300:]
	}
	return ": " + out
}

// describe names a timeout or cancellation instead of the "signal: killed" it causes.
func describe(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out (%w)", err)
		}
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// capped keeps the first maxOutput bytes written to it and drops the rest.
type capped struct{ bytes.Buffer }

func (c *capped) Write(b []byte) (int, error) {
	if room := maxOutput - c.Len(); room > 0 {
		c.Buffer.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// hashFile returns the SHA-256 and size of path, copying it to *copyTo (mode 0755) if given.
func hashFile(path string, copyTo *string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", 0, err
	} else if !fi.Mode().IsRegular() {
		return "", 0, &fs.PathError{Op: "pack", Path: path, Err: errors.New("not a regular file")}
	}
	h := sha256.New()
	w := io.Writer(h)
	var dst *os.File
	if copyTo != nil {
		if dst, err = os.OpenFile(*copyTo, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755); err != nil {
			return "", 0, err
		}
		defer dst.Close()
		w = io.MultiWriter(h, dst)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	if dst != nil {
		if err := dst.Close(); err != nil {
			return "", 0, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// cacheKey covers everything that decides the packed bytes or whether they were accepted. The
// name is included because the entry holds the file under it (argv[0] of the probe).
func cacheKey(inputSHA256, upxVersion string, p catalog.Platform, name string, probe Probe) (string, error) {
	b, err := json.Marshal(struct {
		Format   int
		Input    string
		UPX      string
		Flags    []string
		Platform string
		Name     string
		Probe    Probe
	}{cacheFormat, inputSHA256, upxVersion, flags, p.String(), name, probe})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
