package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// startChild runs script in sh as a child and returns, once the script
// printed "ready", a channel with its result.
func startChild(t *testing.T, ctx context.Context, lost <-chan struct{}, grace time.Duration, script string, env ...string) <-chan childResult {
	t.Helper()
	return startChildWith(t, ctx, lost, grace, grace, script, env...)
}

func startChildWith(t *testing.T, ctx context.Context, lost <-chan struct{}, grace, lostGrace time.Duration, script string, env ...string) <-chan childResult {
	t.Helper()
	r, w := io.Pipe()
	c := child{argv: []string{"/bin/sh", "-c", script}, env: env, grace: grace, lostGrace: lostGrace, stdout: w, stderr: io.Discard}
	out := make(chan childResult, 1)
	go func() {
		status, why, err := c.run(ctx, lost)
		w.Close()
		out <- childResult{status, why, err}
	}()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "ready" {
			go io.Copy(io.Discard, r)
			return out
		}
	}
	res := <-out
	t.Fatalf("the child exited before it was ready: %+v", res)
	return nil
}

type childResult struct {
	status int
	why    stopReason
	err    error
}

func waitChild(t *testing.T, out <-chan childResult) childResult {
	t.Helper()
	select {
	case res := <-out:
		return res
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not end within 30s")
		return childResult{}
	}
}

func TestChildExitStatus(t *testing.T) {
	out := startChild(t, context.Background(), nil, time.Second, `echo ready; [ "$GOSSIPSYNC_X" = 42 ] || exit 9; exit 3`, "GOSSIPSYNC_X=42")
	if res := waitChild(t, out); res.status != 3 || res.why != stoppedNot || res.err != nil {
		t.Errorf("got %+v; want status 3, not stopped (9: the environment was not passed)", res)
	}
}

// A lost lease sends SIGTERM; the child's handler decides its status.
func TestChildStoppedOnLoss(t *testing.T) {
	lost := make(chan struct{})
	out := startChild(t, context.Background(), lost, 30*time.Second, `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	close(lost)
	if res := waitChild(t, out); res.status != 7 || res.why != stoppedLost {
		t.Errorf("got %+v; want status 7 (its TERM handler), stopped because the lease was lost", res)
	}
}

// A child that ignores SIGTERM is killed after the grace period.
func TestChildKilledAfterGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := startChild(t, ctx, nil, 200*time.Millisecond, `trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	cancel()
	if res := waitChild(t, out); res.status != 128+9 || res.why != stoppedSig {
		t.Errorf("got %+v; want status 137 (SIGKILL), stopped because interrupted", res)
	}
}

// A lost lease kills a child that ignores SIGTERM after lostGrace, not
// after the longer grace an interrupt gives: the voters may hand the
// lease on soon after its end.
func TestChildKilledSoonAfterLoss(t *testing.T) {
	lost := make(chan struct{})
	out := startChildWith(t, context.Background(), lost, time.Hour, 100*time.Millisecond, `trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	close(lost)
	if res := waitChild(t, out); res.status != 128+9 || res.why != stoppedLost {
		t.Errorf("got %+v; want status 137 (SIGKILL after lostGrace), stopped because the lease was lost", res)
	}
}

func TestLostGraceFor(t *testing.T) {
	if got := lostGraceFor(10*time.Second, 5*time.Second); got != 1250*time.Millisecond {
		t.Errorf("lostGraceFor(10s, 5s) = %v; want 1.25s (an eighth of the TTL)", got)
	}
	if got := lostGraceFor(10*time.Second, 100*time.Millisecond); got != 100*time.Millisecond {
		t.Errorf("lostGraceFor(10s, 100ms) = %v; want the shorter grace", got)
	}
}

func TestChildNotFound(t *testing.T) {
	c := child{argv: []string{"/nonexistent/command"}, stdout: io.Discard, stderr: io.Discard}
	if status, _, err := c.run(context.Background(), nil); err == nil || status != 127 {
		t.Errorf("run = %d, %v; want 127 and an error", status, err)
	}
}
