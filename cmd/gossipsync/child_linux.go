package main

import "syscall"

// dieWithParent makes the kernel send the child SIGKILL when this
// process dies, however it dies: a child must not outlive the process
// that holds its lease.
func dieWithParent() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
