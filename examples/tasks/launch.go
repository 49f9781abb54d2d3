package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// launch runs a (the submitter) and the workers b and c as child
// processes of this program, b and c joining a, and relays their output.
// When a worker starts the slow task big.jpg it kills that worker, as a
// crash would; when the submitter is done it interrupts the rest, as
// Ctrl-C would, so that they leave. It reports whether big.jpg was then
// resized by the other worker and every other child exited cleanly
// within 30 s.
func launch() bool {
	l := &demo.Launcher{
		Nodes: []string{"a", "b", "c"},
		Args: func(name string) []string {
			if name == "a" {
				return []string{"-role", "submit"}
			}
			return []string{"-role", "worker"}
		},
	}
	s := &script{l: l}
	l.OnLine = s.onLine
	ok := l.Run()
	if s.retriedOn == "" {
		fmt.Println("launcher: big.jpg was not retried on another worker")
		return false
	}
	return ok
}

// script is the launcher's script: kill the worker of the slow task,
// watch the task run again elsewhere.
type script struct {
	l         *demo.Launcher
	killed    string    // the worker that was killed
	killedAt  time.Time // when
	retriedOn string    // the worker that resized big.jpg after the kill
}

// onLine reacts to a line from a node.
func (s *script) onLine(node, text string) {
	switch {
	case s.killed == "" && node != "a" && text == "resizing big.jpg":
		s.killed, s.killedAt = node, time.Now()
		fmt.Printf("launcher: killing %s, which is resizing big.jpg\n", node)
		s.l.Kill(node)
	case s.killed != "" && node != s.killed && text == "resizing big.jpg":
		fmt.Printf("launcher: %s started big.jpg again %v after %s was killed\n",
			node, time.Since(s.killedAt).Round(time.Millisecond), s.killed)
	case s.killed != "" && node == "a" && strings.HasPrefix(text, "big.jpg resized by "):
		if w := worker([]byte(text)); w != s.killed {
			s.retriedOn = w
		}
	case node == "a" && text == "done":
		fmt.Println("launcher: interrupting the others")
		s.l.Interrupt()
	}
}
