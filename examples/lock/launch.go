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

// killAfter is how many grants the launcher watches before it kills the
// next holder, right after its write; stopAfter is how many grants after
// the takeover it lets happen before it stops everyone.
const (
	killAfter = 3
	stopAfter = 2
)

// launch runs nodes a, b and c as child processes of this program, b and
// c joining a, all writing to a new file in os.TempDir, and relays their
// output. Once killAfter grants went by it kills the next holder as soon
// as it has written, as a crash would; once another node holds the lock
// with a higher token and a few more grants went by, it interrupts the
// rest, as Ctrl-C would, so that they release and leave. It prints the
// file and returns 0 when another node took over, the file's tokens
// strictly increase and every other child exited cleanly within 30 s.
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
	f, err := os.CreateTemp("", "gossipsync-lock-demo-*.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	f.Close()
	defer os.Remove(f.Name())
	fmt.Println("launcher: the nodes write to", f.Name())
	code := run(ctx, self, seed, f.Name(), interrupted)
	if !checkFile(f.Name()) {
		code = 1
	}
	return code
}

// run starts the nodes and drives the demo until every child has exited.
func run(ctx context.Context, self, seed, file string, interrupted <-chan os.Signal) int {
	l := &launcher{self: self, file: file, lines: make(chan line), exits: make(chan exit)}
	d := &demo{l: l, seed: seed}
	l.start("a", "-bind", seed)
	for running := 1; running > 0; {
		select {
		case ln := <-l.lines:
			fmt.Printf("%s | %s\n", ln.node, ln.text)
			running += d.onLine(ln)
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

// demo is the launcher's script: kill a holder, watch the takeover.
type demo struct {
	l      *launcher
	seed   string
	grants int // "holding" lines seen

	killed      string    // the holder that was killed
	killedToken uint64    // its token
	killedAt    time.Time // when
	tookOver    time.Time // when another node said it holds the lock
	afterTake   int       // grants since the takeover
	stopping    bool      // the others were interrupted
	failed      bool      // a child failed, or the user interrupted
}

// onLine reacts to a line from a node and returns how many nodes it
// started.
func (d *demo) onLine(ln line) int {
	if ln.node == "a" && strings.HasPrefix(ln.text, "a listening on") {
		d.l.start("b", "-bind", "127.0.0.1:0", "-join", d.seed)
		d.l.start("c", "-bind", "127.0.0.1:0", "-join", d.seed)
		return 2
	}
	if _, ok := parsed(ln.text, "holding, token "); ok {
		d.grants++
	}
	switch {
	case d.killed == "":
		if tok, ok := parsed(ln.text, "wrote \"token "); ok && d.grants > killAfter {
			d.killed, d.killedToken = ln.node, tok
			fmt.Printf("launcher: killing %s, the holder of token %d\n", d.killed, d.killedToken)
			d.l.kill(d.killed)
			d.killedAt = time.Now()
		}
	case d.tookOver.IsZero():
		if tok, ok := parsed(ln.text, "holding, token "); ok && tok > d.killedToken {
			d.tookOver = time.Now()
			fmt.Printf("launcher: %s holds the lock with token %d, %v after %s was killed\n",
				ln.node, tok, d.tookOver.Sub(d.killedAt).Round(time.Millisecond), d.killed)
		}
	case !d.stopping:
		if _, ok := parsed(ln.text, "holding, token "); ok {
			d.afterTake++
		}
		if d.afterTake >= stopAfter {
			d.stopping = true
			fmt.Println("launcher: interrupting the others")
			d.l.interruptAll()
		}
	}
	return 0
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

// parsed returns the number that follows prefix in text.
func parsed(text, prefix string) (uint64, bool) {
	s, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return 0, false
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// checkFile prints the shared file and reports whether its tokens
// strictly increase.
func checkFile(file string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Println("launcher:", err)
		return false
	}
	fmt.Println("launcher: the file:")
	var last uint64
	ok := true
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSpace(l)
		fmt.Println("  " + l)
		tok, _ := parseLine(l)
		if tok <= last {
			fmt.Printf("launcher: token %d after %d\n", tok, last)
			ok = false
		}
		last = tok
	}
	return ok
}

// launcher runs copies of this program as nodes.
type launcher struct {
	self     string // this program
	file     string // the shared file
	lines    chan line
	exits    chan exit
	children map[string]*exec.Cmd // those that started, by node name
}

type line struct{ node, text string }

type exit struct {
	node string
	err  error
}

// start runs node name with args, the demo key, the shared file and a
// cluster size of 3; each line it prints goes to l.lines and then how it
// ended to l.exits.
func (l *launcher) start(name string, args ...string) {
	args = append([]string{"-name", name, "-key", demoKey, "-file", l.file, "-size", "3"}, args...)
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

// kill ends node name at once (SIGKILL), without a chance to release or
// leave: to the others it looks like a crash.
func (l *launcher) kill(name string) {
	if c := l.children[name]; c != nil {
		c.Process.Kill()
		delete(l.children, name)
	}
}

// interruptAll asks every child to release and leave, as Ctrl-C would.
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
