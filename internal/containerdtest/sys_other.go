//go:build !linux

package containerdtest

import (
	"syscall"
	"testing"
)

// containerd and runc are Linux only; these stubs just let the package build elsewhere.

func daemonSysProcAttr() *syscall.SysProcAttr { return nil }

func unmountUnder(string) error { return nil }

func removeCgroups(string) error { return nil }

func (d *Daemon) killShims(testing.TB) {}
