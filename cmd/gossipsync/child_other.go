//go:build !linux

package main

import "syscall"

// dieWithParent: only Linux can have the kernel kill a child when its
// parent dies; elsewhere a child outlives a gossipsync lock or elect
// process that was killed (SIGKILL, or a second SIGINT): the lock's
// fencing token is what guards the resource then.
func dieWithParent() *syscall.SysProcAttr { return nil }
