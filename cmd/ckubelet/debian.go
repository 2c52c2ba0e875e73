package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/ckubelet/ckubelet/internal/debian"
)

// debianFlags are the flags naming the Debian archive the userland comes from.
type debianFlags struct {
	mirror, suite, keyring string
}

func (d *debianFlags) register(f *pflag.FlagSet) {
	f.StringVar(&d.mirror, "debian-mirror", "", "Debian mirror URL (default: the host's apt configuration)")
	f.StringVar(&d.suite, "debian-suite", debian.DefaultSuite, "Debian release the userland comes from; it also names the image tag's base")
	f.StringVar(&d.keyring, "debian-keyring", debian.DefaultKeyring, "OpenPGP keyring that must have signed the suite's InRelease")
}

// source reads the mirror from /etc/apt unless one was given.
func (d *debianFlags) source() (debian.Source, error) {
	mirror := d.mirror
	if mirror == "" {
		var err error
		if mirror, err = debian.HostMirror("/etc/apt"); err != nil {
			return debian.Source{}, err
		}
	}
	return debian.Source{Mirror: mirror, Suite: d.suite, Keyring: d.keyring}, nil
}

func readLock(path string) (*debian.Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	defer f.Close()
	l, err := debian.ReadLock(f)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return l, nil
}
