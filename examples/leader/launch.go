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
// It returns 0 when a new leader took over and every other child exited
// cleanly within 30 s.
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

// run starts the nodes and drives the demo until every child has exited.
func run(ctx context.Context, self, seed string, interrupted <-chan os.Signal) int {
	l := &launcher{self: self, lines: make(chan line), exits: make(chan exit)}
	d := &demo{l: l, seed: seed, timer: time.NewTimer(time.Hour)}
	d.timer.Stop()
	l.start("a", "-bind", seed)
	for running := 1; running > 0; {
		select {
		case ln := <-l.lines:
			fmt.Printf("%s | %s\n", ln.node, ln.text)
			running += d.onLine(ln)
		case <-d.timer.C:
			d.onTimer()
		case e := <-l.exits:
			running--
			d.onExit(e)
		case <-interrupted:
			fmt.Println("launcher: interrupted")
			d.failed = true
			l.interruptAll()
		case <-ctx.Done():
			fmt.Println("launcher: timed out after 30s")
			l.killAll()
			return 1
		}
	}
	if d.failed || d.tookOver.IsZero() {
		return 1
	}
	return 0
}

// demo is the launcher's script: kill the leader, watch the failover.
type demo struct {
	l     *launcher
	seed  string
	timer *time.Timer // kills the leader, then later stops everyone

	leader string // the node leading now, before the kill
	term   uint64 // its term

	killed     string    // the leader that was killed
	killedTerm uint64    // its term
	killedAt   time.Time // when
	tookOver   time.Time // when another node said it leads
	failed     bool      // a child failed, or the user interrupted
}

// onLine reacts to a line from a node and returns how many nodes it
// started.
func (d *demo) onLine(ln line) int {
	if ln.node == "a" && strings.HasPrefix(ln.text, "a listening on") {
		d.l.start("b", "-bind", "127.0.0.1:0", "-join", d.seed)
		d.l.start("c", "-bind", "127.0.0.1:0", "-join", d.seed)
		return 2
	}
	switch {
	case d.killed == "":
		if term, ok := leading(ln.text); ok {
			d.leader, d.term = ln.node, term
			d.timer.Reset(leadBeforeKill)
		} else if ln.node == d.leader && strings.HasPrefix(ln.text, "revoked") {
			d.leader = ""
			d.timer.Stop()
		}
	case d.tookOver.IsZero():
		if term, ok := leading(ln.text); ok && ln.node != d.killed && term > d.killedTerm {
			d.tookOver = time.Now()
			fmt.Printf("launcher: %s took over with term %d, %v after %s was killed\n",
				ln.node, term, d.tookOver.Sub(d.killedAt).Round(time.Millisecond), d.killed)
			d.timer.Reset(leadBeforeStop)
		}
	}
	return 0
}

// onTimer kills the leader that has led long enough, or, after the
// failover, stops the others.
func (d *demo) onTimer() {
	switch {
	case d.killed == "" && d.leader != "":
		d.killed, d.killedTerm = d.leader, d.term
		fmt.Printf("launcher: killing %s, the leader of term %d\n", d.killed, d.killedTerm)
		d.l.kill(d.killed)
		d.killedAt = time.Now()
	case !d.tookOver.IsZero():
		fmt.Println("launcher: interrupting the others")
		d.l.interruptAll()
	}
}

// onExit reports how a node ended; an error fails the demo, except the
// kill.
func (d *demo) onExit(e exit) {
	if e.err == nil {
		return
	}
	fmt.Printf("%s exited: %v\n", e.node, e.err)
	if e.node != d.killed {
		d.failed = true
	}
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

// start runs node name with args and the demo key; each line it prints
// goes to l.lines and then how it ended to l.exits.
func (l *launcher) start(name string, args ...string) {
	cmd := exec.Command(l.self, append([]string{"-name", name, "-key", demoKey}, args...)...)
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

// kill ends node name at once, without a chance to resign or leave: to
// the others it looks like a crash.
func (l *launcher) kill(name string) {
	if c := l.children[name]; c != nil {
		c.Process.Kill()
		delete(l.children, name)
	}
}

// interruptAll asks every child to resign and leave, as Ctrl-C would.
// Where signals cannot be sent (Windows), it kills them.
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
