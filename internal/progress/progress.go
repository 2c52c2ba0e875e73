// Package progress shows the long steps of a build on a terminal: one line per step with a
// spinner and the elapsed time, then the outcome. When the output is not a terminal it prints
// nothing, so logs and pipes stay clean.
package progress

import (
	"io"
	"os"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Progress is the set of steps shown on one terminal.
type Progress struct {
	p *mpb.Progress // nil when quiet
}

// New shows progress on w if it is a terminal.
func New(w io.Writer) *Progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &Progress{}
	}
	return &Progress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(16))}
}

// Step is one long-running piece of work.
type Step struct {
	bar    *mpb.Bar
	once   sync.Once
	result string
	mu     sync.Mutex
}

// Start begins a step named like "compile kubelet linux/arm64".
func (p *Progress) Start(name string) *Step {
	s := &Step{}
	if p.p == nil {
		return s
	}
	s.bar = p.p.New(0, mpb.SpinnerStyle().PositionLeft(),
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

// Done ends the step; note (e.g. "cached", "24.6 MiB") is shown after the elapsed time.
func (s *Step) Done(note string) { s.finish(note) }

// Fail ends the step as failed.
func (s *Step) Fail(err error) { s.finish("failed: " + err.Error()) }

func (s *Step) finish(note string) {
	if s.bar == nil {
		return
	}
	s.once.Do(func() {
		s.mu.Lock()
		if note != "" {
			s.result = " " + note
		}
		s.mu.Unlock()
		s.bar.SetTotal(-1, true)
	})
}

// Wait renders the final state of every step; call it before printing anything else.
func (p *Progress) Wait() {
	if p.p != nil {
		p.p.Wait()
	}
}
