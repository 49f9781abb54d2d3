package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a command that the lock and elect commands run while they
// hold their lease.
type child struct {
	argv []string
	env  []string // added to this process's environment
	// grace is how long the child has to exit after SIGTERM when this
	// process is interrupted (the lease is still held: it is released
	// once the child exited); lostGrace, at most grace, when the lease
	// was lost: the voters may hand it on a quarter TTL after its end,
	// so the child must be gone before.
	grace, lostGrace time.Duration
	stdout, stderr   io.Writer
}

// lostGraceFor is the most a child may outlive its lease: an eighth of
// the TTL, half the quarter TTL the voters keep a grant past the end of
// its holder's lease (leases.Hold), so that it is killed before another
// holder can be granted while this process runs on time. A freeze of
// this process can still delay the kill: the fencing token guards that.
func lostGraceFor(ttl, grace time.Duration) time.Duration { return min(grace, ttl/8) }

// stopReason says why a child was stopped before it exited by itself.
type stopReason string

const (
	stoppedNot  stopReason = ""
	stoppedLost stopReason = "the lease was lost"
	stoppedSig  stopReason = "interrupted"
)

// run starts the child and waits until it exits. When lost closes (the
// lease ended) or ctx is done (SIGINT or SIGTERM), it sends the child
// SIGTERM, and SIGKILL if it has not exited after the grace period. It
// returns the child's exit status as a shell reports it (128 + the
// signal for a child killed by one), and why it was stopped, if it was.
// An error means the child could not be started.
func (c child) run(ctx context.Context, lost <-chan struct{}) (int, stopReason, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	// The child dies with this process, even by SIGKILL (where the
	// platform allows: see dieWithParent), and Wait does not wait for
	// its own children holding its output open once it exited.
	cmd.SysProcAttr = dieWithParent()
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return 127, stoppedNot, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	why := stoppedNot
	var kill <-chan time.Time
	for {
		select {
		case err := <-exited:
			return childStatus(cmd, err), why, nil
		case <-lost:
			lost, why = nil, stoppedLost
			grace := time.NewTimer(c.lostGrace) // sooner than an interrupt's
			defer grace.Stop()
			kill = grace.C
		case <-ctx.Done():
			ctx, why = context.Background(), cmp(why, stoppedSig)
			if kill == nil {
				grace := time.NewTimer(c.grace)
				defer grace.Stop()
				kill = grace.C
			}
		case <-kill:
			cmd.Process.Kill()
			kill = make(chan time.Time) // never again
			continue
		}
		cmd.Process.Signal(syscall.SIGTERM)
	}
}

// cmp returns a if it is set, else b.
func cmp(a, b stopReason) stopReason {
	if a != stoppedNot {
		return a
	}
	return b
}

// childStatus is the status a shell would report for cmd.
func childStatus(cmd *exec.Cmd, err error) int {
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return 128 + int(st.Signal())
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return 1
	}
	return 0
}

// describe names the child for messages.
func (c child) describe() string {
	if len(c.argv) == 1 {
		return c.argv[0]
	}
	return fmt.Sprintf("%s (and %d arguments)", c.argv[0], len(c.argv)-1)
}
