package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// How long the launcher lets the first leader lead before killing it, and
// the new leader before stopping everyone.
const (
	leadBeforeKill = 2 * time.Second
	leadBeforeStop = time.Second
)

// launch runs nodes a, b and c as child processes of this program, b and
// c joining a, and relays their output. Once a leader has led for 2 s it
// kills it, as a crash would; once another node leads with a higher term
// it interrupts the rest, as Ctrl-C would, so that they resign and leave.
// It reports whether a new leader took over and every other child exited
// cleanly within 30 s.
func launch() bool {
	l := &demo.Launcher{Nodes: []string{"a", "b", "c"}}
	s := &script{l: l, stopTimer: func() {}}
	l.OnLine = s.onLine
	return l.Run() && !s.tookOver.IsZero()
}

// script is the launcher's script: kill the leader, watch the failover.
type script struct {
	l         *demo.Launcher
	stopTimer func() // stops the timer that kills the leader

	leader string // the node leading now, before the kill
	term   uint64 // its term

	killed     string    // the leader that was killed
	killedTerm uint64    // its term
	killedAt   time.Time // when
	tookOver   time.Time // when another node said it leads
}

// onLine reacts to a line from a node.
func (s *script) onLine(node, text string) {
	switch {
	case s.killed == "":
		if term, ok := leading(text); ok {
			s.leader, s.term = node, term
			s.stopTimer()
			s.stopTimer = s.l.After(leadBeforeKill, s.killLeader)
		} else if node == s.leader && strings.HasPrefix(text, "revoked") {
			s.leader = ""
			s.stopTimer()
		}
	case s.tookOver.IsZero():
		if term, ok := leading(text); ok && node != s.killed && term > s.killedTerm {
			s.tookOver = time.Now()
			fmt.Printf("launcher: %s took over with term %d, %v after %s was killed\n",
				node, term, s.tookOver.Sub(s.killedAt).Round(time.Millisecond), s.killed)
			s.l.After(leadBeforeStop, func() {
				fmt.Println("launcher: interrupting the others")
				s.l.Interrupt()
			})
		}
	}
}

// killLeader kills the leader that has led long enough.
func (s *script) killLeader() {
	s.killed, s.killedTerm = s.leader, s.term
	fmt.Printf("launcher: killing %s, the leader of term %d\n", s.killed, s.killedTerm)
	s.l.Kill(s.killed)
	s.killedAt = time.Now()
}

// leading parses a node's "leading, term N" line.
func leading(text string) (term uint64, ok bool) {
	s, ok := strings.CutPrefix(text, "leading, term ")
	if !ok {
		return 0, false
	}
	term, err := strconv.ParseUint(s, 10, 64)
	return term, err == nil
}
