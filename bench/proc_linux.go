package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the child if this program dies
// without stopping it (killed by a signal it cannot catch).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
