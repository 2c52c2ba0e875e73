package progress

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the heartbeat goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPlain(t *testing.T) {
	var out syncBuffer
	p := newPlain(&out, 20*time.Millisecond)
	a := p.Start("compile kubelet linux/amd64")
	time.Sleep(70 * time.Millisecond)
	a.Done("cached")
	b := p.Start("write oci:out/oci")
	b.Fail(errors.New("disk full"))
	b.Done("ignored: a step ends once")
	p.Wait()

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\[ *0\.\ds\] start compile kubelet linux/amd64$`),
		regexp.MustCompile(`^\[ *0\.\ds\] \.\.\.   compile kubelet linux/amd64 \(0\.0s\)$`),
	}
	if len(lines) < 5 {
		t.Fatalf("want start, heartbeats, done, start, FAIL; got:\n%s", out.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i, lines[i], re)
		}
	}
	tail := lines[len(lines)-3:]
	for i, re := range []*regexp.Regexp{
		regexp.MustCompile(`^\[ *0\.\ds\] done  compile kubelet linux/amd64 \(0\.1s\) cached$`),
		regexp.MustCompile(`^\[ *0\.\ds\] start write oci:out/oci$`),
		regexp.MustCompile(`^\[ *0\.\ds\] FAIL  write oci:out/oci \(0\.0s\): disk full$`),
	} {
		if !re.MatchString(tail[i]) {
			t.Errorf("line %q, want %s", tail[i], re)
		}
	}
}

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	for mode, want := range map[string]string{"auto": "*progress.Plain", "plain": "*progress.Plain", "quiet": "progress.Quiet", "": "*progress.Plain"} {
		r, err := New(mode, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := typeName(r); got != want {
			t.Errorf("New(%q) on a buffer = %s, want %s", mode, got, want)
		}
		r.Wait()
	}
	if _, err := New("fancy", &buf); err == nil || err.Error() != `unknown progress mode "fancy": want auto, tty, plain, quiet` {
		t.Errorf("unknown mode: %v", err)
	}
	q, _ := New("quiet", &buf)
	q.Start("x").Done("y")
	if buf.Len() != 0 {
		t.Errorf("quiet wrote %q", buf.String())
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *Plain:
		return "*progress.Plain"
	case Quiet:
		return "progress.Quiet"
	case *tty:
		return "*progress.tty"
	}
	return "?"
}
