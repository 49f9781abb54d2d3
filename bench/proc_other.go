//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing here: only Linux can tie a child's life to
// its parent's. The program still stops its children when it ends or is
// interrupted.
func dieWithParent(*exec.Cmd) {}
