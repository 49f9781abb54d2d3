package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Two shells run gossipsync lock on one ID at once: one child at a time
// (a child that finds another's mark fails), the second waits for the
// first, and the second grant's token is above the first's. Then a lock
// whose agents are frozen loses its lease and its child gets SIGTERM.
func TestCLILock(t *testing.T) {
	c := startAgents(t)
	dir := t.TempDir()
	script := fmt.Sprintf(`set -C; : > %[1]s/held || exit 99; echo "$GOSSIPSYNC_LOCK_TOKEN" >> %[1]s/tokens; sleep 1; rm %[1]s/held; [ "$GOSSIPSYNC_LOCK_ID" = job ] || exit 98`, dir)
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd, _ := c.command(fmt.Sprintf("lock%d", i), "lock", "-ttl", "2s", "job", "--", "/bin/sh", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if code := exitCode(t, cmd, 60*time.Second); code != 0 {
			t.Errorf("lock %d exited %d; want 0 (99: two children held the lock at once)", i, code)
		}
	}
	tokens := readInts(t, filepath.Join(dir, "tokens"))
	if len(tokens) != 2 || tokens[1] <= tokens[0] {
		t.Errorf("tokens %v; want two, increasing", tokens)
	}
	// They left the cluster: the agents list them as left, not failed,
	// and count them in no quorum basis.
	var st struct {
		Members []struct{ Name, State string }
	}
	if err := getJSON(c.https[0]+"/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.State == "failed" {
			t.Errorf("member %s failed; want every lock command to have left", m.Name)
		}
	}

	// -timeout 0 tries once: held by another, it fails at once.
	holder, _ := c.command("holder", "lock", "-ttl", "2s", "job", "--", "/bin/sh", "-c", fmt.Sprintf(`echo "$GOSSIPSYNC_LOCK_TOKEN" > %[1]s/holder; trap 'echo term > %[1]s/term; exit 5' TERM; while :; do sleep 0.05; done`, dir))
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	c.waitFor(60*time.Second, "the holder's child", func() bool { return len(readInts(t, filepath.Join(dir, "holder"))) == 1 })
	if got := readInts(t, filepath.Join(dir, "holder"))[0]; got <= slices.Max(tokens) {
		t.Errorf("the third grant's token %d is not above %v", got, tokens)
	}
	try, _ := c.command("try", "lock", "-timeout", "0", "job", "--", "/bin/true")
	if err := try.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, try, 60*time.Second); code != 1 {
		t.Errorf("lock -timeout 0 on a held lock exited %d; want 1", code)
	}

	// Freeze two of the three agents (the voters): the holder cannot
	// renew, its lease runs out, and its child is stopped.
	for _, a := range c.agents[1:] {
		a.Process.Signal(syscall.SIGSTOP)
	}
	code := exitCode(t, holder, 60*time.Second)
	for _, a := range c.agents[1:] {
		a.Process.Signal(syscall.SIGCONT)
	}
	if code != 5 {
		t.Errorf("the holder exited %d; want 5 (its child's status after SIGTERM)", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "term")); err != nil {
		t.Errorf("the child got no SIGTERM: %v", err)
	}
}
