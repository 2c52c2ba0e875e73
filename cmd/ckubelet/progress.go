package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ckubelet/ckubelet/internal/progress"
)

// progressFlag is --progress, shared by the commands that run long steps.
type progressFlag struct{ mode string }

func (p *progressFlag) register(f *pflag.FlagSet) {
	f.StringVar(&p.mode, "progress", "auto", "how to show progress on stderr: "+strings.Join(progress.Modes, ", ")+" (auto: tty on a terminal, plain otherwise)")
}

func (p *progressFlag) reporter() (progress.Reporter, error) { return progress.New(p.mode, os.Stderr) }
