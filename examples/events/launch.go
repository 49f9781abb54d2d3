package main

import (
	"fmt"
	"strings"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// orders is how many orders the launcher's publisher publishes;
// killAfter is how many orders the consumers take before the launcher
// kills the one that takes the next.
const (
	orders    = 20
	killAfter = 5
)

// launch runs a (the publisher) and the consumers b and c as child
// processes of this program, with a cluster size of 3, and relays their
// output. When a consumer takes an order after the first killAfter, it
// kills that consumer before it can ack, as a crash would. Once every
// order is acked it interrupts the rest, as Ctrl-C would, so that they
// leave. It reports whether the killed consumer's order was taken again
// by the other consumer and acked, every order was acked, and every
// other child exited cleanly within 30 s.
func launch() bool {
	l := &demo.Launcher{
		Nodes: []string{"a", "b", "c"},
		Args: func(name string) []string {
			args := []string{"-size", "3", "-orders", fmt.Sprint(orders)}
			if name == "a" {
				return append(args, "-role", "publish")
			}
			return append(args, "-role", "consume")
		},
	}
	s := &script{l: l, acked: map[string]bool{}}
	l.OnLine = s.onLine
	ok := l.Run()
	switch {
	case s.retakenBy == "":
		fmt.Printf("launcher: %s, taken by the killed %s, was not taken again\n", s.order, s.killed)
		return false
	case len(s.acked) != orders:
		fmt.Printf("launcher: %d of %d orders acked\n", len(s.acked), orders)
		return false
	}
	return ok
}

// script is the launcher's script: kill a consumer holding an order,
// watch the group hand the order to the other one.
type script struct {
	l         *demo.Launcher
	taken     int             // "took" lines seen
	killed    string          // the consumer killed
	order     string          // the order it held
	retakenBy string          // the consumer that took it again
	acked     map[string]bool // the orders acked
	stopping  bool
}

// onLine reacts to a line from a node.
func (s *script) onLine(node, text string) {
	if order, ok := strings.CutPrefix(text, "took "); ok {
		order, _, _ = strings.Cut(order, " ")
		s.taken++
		switch {
		case s.killed == "" && s.taken > killAfter:
			s.killed, s.order = node, order
			fmt.Printf("launcher: killing %s, which holds %s and has not acked it\n", node, order)
			s.l.Kill(node)
		case order == s.order && node != s.killed && s.retakenBy == "":
			s.retakenBy = node
			fmt.Printf("launcher: %s took %s again after %s was killed\n", node, order, s.killed)
		}
	}
	if order, ok := strings.CutPrefix(text, "acked "); ok {
		s.acked[order] = true
	}
	if len(s.acked) == orders && !s.stopping {
		s.stopping = true
		fmt.Println("launcher: every order acked; stopping the nodes")
		s.l.Interrupt()
	}
}
