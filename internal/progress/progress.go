// Package progress shows the long steps of a build: on a terminal, one live line per step with a
// spinner and the elapsed time; in a log or a pipe, one plain line when a step starts, a line a
// minute while it runs, and one when it ends, with its duration (as `docker buildx
// --progress=plain` does); or nothing.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Reporter shows steps.
type Reporter interface {
	// Start begins a step named like "compile kubelet linux/arm64".
	Start(name string) Step
	// Wait renders the final state of every step; call it before printing anything else.
	Wait()
}

// Step is one long-running piece of work.
type Step interface {
	// Done ends the step; note (e.g. "cached", "24.6 MiB") follows its duration.
	Done(note string)
	// Fail ends the step as failed.
	Fail(err error)
}

// Modes are what --progress accepts.
var Modes = []string{"auto", "tty", "plain", "quiet"}

// New returns the reporter for mode on w: "tty" live lines, "plain" log lines, "quiet" nothing,
// "auto" tty when w is a terminal and plain otherwise.
func New(mode string, w io.Writer) (Reporter, error) {
	switch mode {
	case "auto", "":
		if isTerminal(w) {
			return newTTY(w), nil
		}
		return NewPlain(w), nil
	case "tty":
		return newTTY(w), nil
	case "plain":
		return NewPlain(w), nil
	case "quiet":
		return Quiet{}, nil
	}
	return nil, fmt.Errorf("unknown progress mode %q: want %s", mode, strings.Join(Modes, ", "))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Quiet shows nothing.
type Quiet struct{}

func (Quiet) Start(string) Step { return quietStep{} }
func (Quiet) Wait()             {}

type quietStep struct{}

func (quietStep) Done(string) {}
func (quietStep) Fail(error)  {}

// tty shows live lines on a terminal.
type tty struct{ p *mpb.Progress }

func newTTY(w io.Writer) *tty { return &tty{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(16))} }

func (t *tty) Wait() { t.p.Wait() }

func (t *tty) Start(name string) Step {
	s := &ttyStep{}
	s.bar = t.p.New(0, mpb.SpinnerStyle().PositionLeft(),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Elapsed(decor.ET_STYLE_GO),
			decor.Any(func(decor.Statistics) string {
				s.mu.Lock()
				defer s.mu.Unlock()
				return s.result
			}, decor.WC{W: 1}),
		),
		mpb.BarFillerOnComplete("✓"),
	)
	return s
}

type ttyStep struct {
	bar    *mpb.Bar
	once   sync.Once
	mu     sync.Mutex
	result string
}

func (s *ttyStep) Done(note string) { s.finish(note) }
func (s *ttyStep) Fail(err error)   { s.finish("failed: " + err.Error()) }

func (s *ttyStep) finish(note string) {
	s.once.Do(func() {
		s.mu.Lock()
		if note != "" {
			s.result = " " + note
		}
		s.mu.Unlock()
		s.bar.SetTotal(-1, true)
	})
}

// Plain writes one line per event, each stamped with the time since the reporter was made:
//
//	[   12.3s] start compile kubelet linux/arm64
//	[   72.3s] ...   compile kubelet linux/arm64 (1m0s)
//	[  251.0s] done  compile kubelet linux/arm64 (3m59s)
type Plain struct {
	w       io.Writer
	began   time.Time
	mu      sync.Mutex
	tick    time.Duration // how often a running step says it still runs
	running map[*plainStep]bool
	stop    chan struct{}
	once    sync.Once
}

// NewPlain writes plain progress lines to w; a running step says so every minute.
func NewPlain(w io.Writer) *Plain { return newPlain(w, time.Minute) }

func newPlain(w io.Writer, tick time.Duration) *Plain {
	p := &Plain{w: w, began: time.Now(), tick: tick, running: map[*plainStep]bool{}, stop: make(chan struct{})}
	go p.heartbeat()
	return p
}

func (p *Plain) heartbeat() {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			for s := range p.running {
				p.line("...  ", s.name, " ("+duration(time.Since(s.began))+")")
			}
			p.mu.Unlock()
		}
	}
}

// line writes one event; the caller holds p.mu.
func (p *Plain) line(event, name, rest string) {
	fmt.Fprintf(p.w, "[%7.1fs] %s %s%s\n", time.Since(p.began).Seconds(), event, name, rest)
}

func (p *Plain) Start(name string) Step {
	s := &plainStep{p: p, name: name, began: time.Now()}
	p.mu.Lock()
	p.running[s] = true
	p.line("start", name, "")
	p.mu.Unlock()
	return s
}

// Wait stops the heartbeat.
func (p *Plain) Wait() { p.once.Do(func() { close(p.stop) }) }

type plainStep struct {
	p     *Plain
	name  string
	began time.Time
	once  sync.Once
}

func (s *plainStep) Done(note string) {
	if note != "" {
		note = " " + note
	}
	s.end("done ", note)
}

func (s *plainStep) Fail(err error) { s.end("FAIL ", ": "+err.Error()) }

func (s *plainStep) end(event, rest string) {
	s.once.Do(func() {
		s.p.mu.Lock()
		defer s.p.mu.Unlock()
		delete(s.p.running, s)
		s.p.line(event, s.name, " ("+duration(time.Since(s.began))+")"+rest)
	})
}

// duration is d for a log: tenths of a second under a minute, whole seconds above.
func duration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
