package demo

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"
)

// key is the secret key the launcher gives its nodes. Make your own with
// `openssl rand -hex 32`.
const key = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f"

// timeout is how long a launcher lets its nodes run.
const timeout = 30 * time.Second

// A Launcher runs copies of this program as the nodes of a demo, all on
// loopback with one secret key, and relays their output, each line as
// "<node> | <line>". The first node listens on a port that was free a
// moment ago; the others are started once it has printed "<name>
// listening on ...", and join it.
//
// Set the fields, then call Run. OnLine, and the functions given to
// After, all run on Run's goroutine, one at a time, so they need no
// locks; Kill, Interrupt and After may be called only from them.
type Launcher struct {
	// Nodes names the nodes to start, the first first.
	Nodes []string
	// Args, if not nil, returns the flags node name takes beyond -name,
	// -key, -bind and -join.
	Args func(name string) []string
	// OnLine, if not nil, is called with every line a node prints, after
	// the line is relayed: it is the demo's script.
	OnLine func(node, text string)

	self     string               // this program
	seed     string               // the first node's address
	lines    chan line            // from the nodes
	exits    chan exit            // from the nodes, after their last line
	calls    chan func()          // from After
	done     chan struct{}        // closed when Run returns
	children map[string]*exec.Cmd // the nodes running, by name
	killed   map[string]bool      // the nodes Kill killed
}

type line struct{ node, text string }

type exit struct {
	node string
	err  error
}

// Run starts the nodes and relays their output until every node has
// exited, and reports whether all went well: every node exited cleanly
// (or was killed by Kill) within 30 s, and nobody interrupted the
// launcher. On Ctrl-C it interrupts the nodes and waits for them; after
// 30 s it kills them and returns at once.
func (l *Launcher) Run() bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt)
	defer signal.Stop(interrupted)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return false
	}
	seed, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return false
	}
	l.self, l.seed = self, seed
	l.lines, l.exits, l.calls = make(chan line), make(chan exit), make(chan func())
	l.done = make(chan struct{})
	defer close(l.done)
	l.children, l.killed = map[string]*exec.Cmd{}, map[string]bool{}

	first, ok, joined := l.Nodes[0], true, false
	l.start(first, "-bind", seed)
	for running := 1; running > 0; {
		select {
		case ln := <-l.lines:
			fmt.Printf("%s | %s\n", ln.node, ln.text)
			if !joined && ln.node == first && strings.HasPrefix(ln.text, first+" listening on") {
				joined = true
				for _, name := range l.Nodes[1:] {
					l.start(name, "-bind", "127.0.0.1:0", "-join", seed)
					running++
				}
			}
			if l.OnLine != nil {
				l.OnLine(ln.node, ln.text)
			}
		case f := <-l.calls:
			f()
		case e := <-l.exits:
			running--
			delete(l.children, e.node)
			if e.err != nil {
				fmt.Printf("%s exited: %v\n", e.node, e.err)
				if !l.killed[e.node] {
					ok = false
				}
			}
		case <-interrupted:
			fmt.Println("launcher: interrupted")
			ok = false
			l.Interrupt()
		case <-ctx.Done():
			fmt.Printf("launcher: timed out after %v\n", timeout)
			for _, c := range l.children {
				c.Process.Kill()
			}
			return false
		}
	}
	return ok
}

// start runs node name with its flags; each line it prints goes to
// l.lines and then how it ended to l.exits.
func (l *Launcher) start(name string, args ...string) {
	args = append([]string{"-name", name, "-key", key}, args...)
	if l.Args != nil {
		args = append(args, l.Args(name)...)
	}
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
	l.children[name] = cmd
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- line{name, sc.Text()}
		}
		l.exits <- exit{name, cmd.Wait()}
	}()
}

// Kill ends node name at once (SIGKILL), without a chance to clean up or
// leave: to the others it looks like a crash. Its exit does not count as
// a failure.
func (l *Launcher) Kill(name string) {
	if c := l.children[name]; c != nil {
		c.Process.Kill()
		l.killed[name] = true
		delete(l.children, name)
	}
}

// Interrupt asks every running node to stop, as Ctrl-C would: the nodes
// release what they hold, leave and exit. Where signals cannot be sent
// (Windows), it kills them.
func (l *Launcher) Interrupt() {
	for _, c := range l.children {
		if err := c.Process.Signal(os.Interrupt); err != nil {
			c.Process.Kill()
		}
	}
}

// After calls f on Run's goroutine once d has passed, unless stop was
// called first or Run has returned.
func (l *Launcher) After(d time.Duration, f func()) (stop func()) {
	stopped := false // only read and written on Run's goroutine
	t := time.AfterFunc(d, func() {
		select {
		case l.calls <- func() {
			if !stopped {
				f()
			}
		}:
		case <-l.done:
		}
	})
	return func() {
		stopped = true
		t.Stop()
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
