package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// demoNode is a node the launcher starts, with how wrong its physical
// clock is.
type demoNode struct {
	name  string
	skew  time.Duration
	drift float64 // ppm
	ping  string  // the node it calls once, if any
}

// demoNodes are the launcher's nodes; b and c join a.
var demoNodes = []demoNode{
	{name: "a"},
	{name: "b", skew: 3 * time.Second, drift: 300, ping: "c"},
	{name: "c", skew: -2 * time.Second, drift: -300},
}

// args returns the flags that give n its clock.
func (n demoNode) args() []string {
	args := []string{"-skew", n.skew.String(), "-drift", strconv.FormatFloat(n.drift, 'g', -1, 64)}
	if n.ping != "" {
		args = append(args, "-ping", n.ping)
	}
	return args
}

// launch runs the demo nodes as child processes of this program, the
// others joining the first, and relays their output. Once every node has
// printed its readings it interrupts them, as Ctrl-C would, so that they
// close their clocks and leave. It reports whether every node printed its
// readings and exited cleanly within 30 s.
func launch() bool {
	l := &demo.Launcher{}
	flags := map[string][]string{}
	for _, n := range demoNodes {
		l.Nodes = append(l.Nodes, n.name)
		flags[n.name] = n.args()
	}
	l.Args = func(name string) []string { return flags[name] }
	done := map[string]bool{}
	l.OnLine = func(node, text string) {
		if text == "done" {
			done[node] = true
			if len(done) == len(demoNodes) {
				fmt.Println("launcher: every node printed its readings; interrupting them")
				l.Interrupt()
			}
		}
	}
	return l.Run() && len(done) == len(demoNodes)
}
