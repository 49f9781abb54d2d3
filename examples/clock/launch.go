package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

// demoKey is the key the launcher gives its children. Make your own with
// `openssl rand -hex 32`.
const demoKey = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f"

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

// args returns the flags that run n, joining seed or, for the first
// node, listening on it.
func (n demoNode) args(seed string, first bool) []string {
	args := []string{"-name", n.name, "-key", demoKey,
		"-skew", n.skew.String(), "-drift", strconv.FormatFloat(n.drift, 'g', -1, 64)}
	if first {
		args = append(args, "-bind", seed)
	} else {
		args = append(args, "-bind", "127.0.0.1:0", "-join", seed)
	}
	if n.ping != "" {
		args = append(args, "-ping", n.ping)
	}
	return args
}

// launch runs the demo nodes as child processes of this program, the
// others joining the first, and relays their output. Once every node has
// printed its readings it interrupts them, as Ctrl-C would, so that they
// close their clocks and leave. It returns 0 when every node printed its
// readings and exited cleanly within 30 s.
func launch() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	defer signal.Stop(interrupted)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	seed, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return run(ctx, self, seed, interrupted)
}

// run starts the nodes and relays their output until every child has
// exited.
func run(ctx context.Context, self, seed string, interrupted <-chan os.Signal) int {
	l := &launcher{self: self, lines: make(chan line), exits: make(chan exit)}
	first := demoNodes[0]
	l.start(first.name, first.args(seed, true)...)
	done, failed := map[string]bool{}, false
	for running := 1; running > 0; {
		select {
		case ln := <-l.lines:
			fmt.Printf("%s | %s\n", ln.node, ln.text)
			switch {
			case ln.node == first.name && strings.HasPrefix(ln.text, first.name+" listening on"):
				for _, n := range demoNodes[1:] {
					l.start(n.name, n.args(seed, false)...)
					running++
				}
			case ln.text == "done":
				done[ln.node] = true
				if len(done) == len(demoNodes) {
					fmt.Println("launcher: every node printed its readings; interrupting them")
					l.interruptAll()
				}
			}
		case e := <-l.exits:
			running--
			if e.err != nil {
				fmt.Printf("%s exited: %v\n", e.node, e.err)
				failed = true
			}
		case <-interrupted:
			fmt.Println("launcher: interrupted")
			failed = true
			l.interruptAll()
		case <-ctx.Done():
			fmt.Println("launcher: timed out after 30s")
			l.killAll()
			return 1
		}
	}
	if failed || len(done) < len(demoNodes) {
		return 1
	}
	return 0
}

// launcher runs copies of this program as nodes.
type launcher struct {
	self     string // this program
	lines    chan line
	exits    chan exit
	children map[string]*exec.Cmd // those that started, by node name
}

type line struct{ node, text string }

type exit struct {
	node string
	err  error
}

// start runs node name with args; each line it prints goes to l.lines
// and then how it ended to l.exits.
func (l *launcher) start(name string, args ...string) {
	cmd := exec.Command(l.self, args...)
	out, err := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		go func() { l.exits <- exit{name, err} }()
		return
	}
	if l.children == nil {
		l.children = map[string]*exec.Cmd{}
	}
	l.children[name] = cmd
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- line{name, sc.Text()}
		}
		l.exits <- exit{name, cmd.Wait()}
	}()
}

// interruptAll asks every child to close its clock and leave, as Ctrl-C
// would. Where signals cannot be sent (Windows), it kills them.
func (l *launcher) interruptAll() {
	for _, c := range l.children {
		if err := c.Process.Signal(os.Interrupt); err != nil {
			c.Process.Kill()
		}
	}
}

func (l *launcher) killAll() {
	for _, c := range l.children {
		c.Process.Kill()
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for the first node.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
