// Join shows gossipsync nodes in separate processes finding each other on
// loopback: each new node is given the address of one member (a seed) and
// learns of all the others by gossip.
//
// Run one node per terminal (Ctrl-C makes a node leave and exit):
//
//	go run ./examples/join -name a -bind 127.0.0.1:7946 -key $KEY
//	go run ./examples/join -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY
//	go run ./examples/join -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY
//
// or run it without flags: it starts a, b and c as child processes, shows
// their output, and stops them once each has seen all three.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

func main() {
	if len(os.Args) == 1 {
		os.Exit(launch())
	}
	name := flag.String("name", "", "node name, unique in the cluster (default: host name and a random suffix)")
	bind := flag.String("bind", "127.0.0.1:7946", "ip:port to listen on, UDP and TCP")
	join := flag.String("join", "", "comma-separated addresses of members to join (default: start a new cluster)")
	key := flag.String("key", "", "the cluster's secret key in hex, 16, 24 or 32 bytes (default: an open cluster)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runNode(ctx, *name, *bind, *join, *key); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// runNode runs one node until ctx ends, printing the members on every
// membership event; then it leaves the cluster and closes.
func runNode(ctx context.Context, name, bind, join, keyHex string) error {
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	if len(key) == 0 {
		key = nil // an open cluster
	}
	node, err := cluster.New(cluster.Config{
		Name:      name,
		BindAddr:  bind,
		SecretKey: key,
		Profile:   cluster.Local, // quick failure detection, for one machine
	})
	if err != nil {
		return err
	}
	defer node.Close()
	events, _ := node.Subscribe(16)
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())

	if join != "" {
		if err := joinSeeds(ctx, node, strings.Split(join, ",")); err != nil {
			return err
		}
		fmt.Printf("joined via %s\n", join)
	}
	for {
		select {
		case e := <-events:
			fmt.Printf("%s %s -> members: %s\n", e.Type, e.Member.Name, memberNames(node))
		case <-ctx.Done():
			return leave(node)
		}
	}
}

// joinSeeds joins the cluster, retrying every second while no seed
// answers, so that the nodes can be started in any order.
func joinSeeds(ctx context.Context, node *cluster.Node, seeds []string) error {
	for {
		_, err := node.Join(ctx, seeds...)
		if err == nil || errors.Is(err, cluster.ErrAuth) || errors.Is(err, cluster.ErrDuplicateName) {
			return err // a wrong key or a name in use will not get better
		}
		fmt.Printf("join: %v; retrying in 1s\n", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leave tells the others that this node is going (they see a leave, not a
// failure), then closes it.
func leave(node *cluster.Node) error {
	fmt.Println("leaving")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := node.Leave(ctx); err != nil {
		return err
	}
	fmt.Println("left")
	return node.Close()
}

func memberNames(node *cluster.Node) string {
	var names []string
	for _, m := range node.Members() {
		names = append(names, m.Name)
	}
	return strings.Join(names, " ")
}

// demoKey is the key the launcher gives its children. Make your own with
// `openssl rand -hex 32`.
const demoKey = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f"

// launch runs nodes a, b and c as child processes of this program, b and
// c joining a, and relays their output. Once each has listed all three
// members it interrupts them, as Ctrl-C would, so that they leave. It
// returns 0 when every child exited cleanly within 30 s.
func launch() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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
	l := &launcher{self: self, lines: make(chan line), exits: make(chan exit)}
	l.start("a", "-bind", seed)
	sawAll := map[string]bool{}
	status := 0
	for running := 1; running > 0; {
		select {
		case ln := <-l.lines:
			fmt.Printf("%s | %s\n", ln.node, ln.text)
			if ln.node == "a" && strings.HasPrefix(ln.text, "a listening on") {
				l.start("b", "-bind", "127.0.0.1:0", "-join", seed)
				l.start("c", "-bind", "127.0.0.1:0", "-join", seed)
				running += 2
			}
			if _, list, ok := strings.Cut(ln.text, "members: "); ok && len(strings.Fields(list)) == 3 && !sawAll[ln.node] {
				sawAll[ln.node] = true
				if len(sawAll) == 3 {
					l.interruptAll()
				}
			}
		case e := <-l.exits:
			running--
			if e.err != nil {
				fmt.Printf("%s exited: %v\n", e.node, e.err)
				status = 1
			}
		case <-ctx.Done():
			fmt.Println("timed out after 30s")
			l.killAll()
			return 1
		}
	}
	return status
}

// launcher runs copies of this program as nodes.
type launcher struct {
	self     string // this program
	lines    chan line
	exits    chan exit
	children []*exec.Cmd // those that started
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
	l.children = append(l.children, cmd)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.lines <- line{name, sc.Text()}
		}
		l.exits <- exit{name, cmd.Wait()}
	}()
}

// interruptAll asks every child to leave, as Ctrl-C would. Where signals
// cannot be sent (Windows), it kills them.
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
