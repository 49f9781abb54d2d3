//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

// dieWithParent does nothing here: only Linux can tie a child's life to
// its parent's. The program still stops its children when it ends or is
// interrupted.
func dieWithParent(*exec.Cmd) {}

// procUsage is measured on Linux only (getrusage and /proc/self/status).
func procUsage() (usage, error) {
	return usage{}, errors.New("not measured here: the idle row reads Linux's /proc")
}
