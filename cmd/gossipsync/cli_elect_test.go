package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Two shells run gossipsync elect in one group and a third listens:
// one child runs, with its term; when its process is killed the other
// takes over with a higher term, and -listen prints both leaders.
func TestCLIElect(t *testing.T) {
	c := startAgents(t)
	dir := t.TempDir()
	listen, heard := c.command("listen", "elect", "-listen", "jobs")
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		listen.Process.Signal(syscall.SIGTERM)
		if code := exitCode(t, listen, 30*time.Second); code != 0 {
			t.Errorf("elect -listen exited %d after SIGTERM; want 0", code)
		}
	}()
	cands := map[string]*exec.Cmd{}
	for _, name := range []string{"e1", "e2"} {
		cmd, _ := c.command(name, "elect", "-id", name, "-ttl", "1s", "jobs", "--", "/bin/sh", "-c",
			fmt.Sprintf(`echo "$GOSSIPSYNC_TERM" > %s/%s; while :; do sleep 0.05; done`, dir, name))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cands[name] = cmd
	}
	defer func() {
		for _, cmd := range cands {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}()
	leading := func() (string, uint64) {
		for name := range cands {
			if terms := readInts(t, filepath.Join(dir, name)); len(terms) == 1 {
				return name, terms[0]
			}
		}
		return "", 0
	}
	var first string
	var term1 uint64
	c.waitFor(60*time.Second, "a leader's child", func() bool { first, term1 = leading(); return first != "" })
	// Kill the leader's process and its child at once, as a crash would.
	syscall.Kill(-cands[first].Process.Pid, syscall.SIGKILL)
	cands[first].Wait()
	delete(cands, first)
	os.Remove(filepath.Join(dir, first))
	var second string
	var term2 uint64
	c.waitFor(60*time.Second, "the other candidate's child", func() bool { second, term2 = leading(); return second != "" })
	if second == first || term2 <= term1 {
		t.Errorf("after %s (term %d) was killed, %s leads with term %d; want the other, with a higher term", first, term1, second, term2)
	}
	line := func(id string, term uint64) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^leader \S+ id ` + id + ` term ` + strconv.FormatUint(term, 10) + `$`)
	}
	c.waitFor(30*time.Second, "-listen to print both leaders", func() bool {
		out := heard.String()
		return line(first, term1).MatchString(out) && line(second, term2).MatchString(out)
	})
}
