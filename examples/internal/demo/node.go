// Package demo is the plumbing the runnable examples share, so that each
// example's own files show the primitive it is about and little else.
//
// Every example is one program with two modes, and its main is one call
// to Main:
//
//   - With flags, it runs one node. Main defines the flags every node
//     takes (-name, -bind, -join, -key; see Flags), parses the command
//     line and calls the example's node function with a context that ends
//     on Ctrl-C. Around the example's own work the node function uses
//     Join to join the seeds of -join and Leave to leave the cluster at
//     the end.
//   - Without flags, it is a launcher. Main calls the example's launch
//     function, which runs a Launcher: it starts copies of the program as
//     nodes a, b and c on loopback, relays their output with each node's
//     name in front, and hands each line to the example's script, which
//     may kill a node, interrupt them all, or set timers.
//
// The launcher and a node speak through the node's output: a node must
// print "<name> listening on <address>" once it listens (the launcher
// starts the other nodes then), and the launcher's script reads the lines
// the example prints.
package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// Flags are the flags every example node takes, ready for a
// cluster.Config.
type Flags struct {
	Name string // -name: the node's name, unique in the cluster; "" lets the cluster pick one
	Bind string // -bind: the ip:port to listen on, UDP and TCP
	Join string // -join: comma-separated addresses of members to join, for Join; "" starts a new cluster
	Key  []byte // -key, decoded from hex: the cluster's secret key; nil for an open cluster
}

// Main runs an example program. Without arguments it runs launch and
// exits 0 if launch reports success, 1 otherwise.
//
// With arguments it runs a node: it defines the flags of Flags on
// flag.CommandLine (the example defines its own before calling Main),
// parses the command line and calls node with them and with a context
// that ends on Ctrl-C or SIGTERM. If -key is not hex or node returns an
// error, Main prints the error to stderr and exits 1.
func Main(launch func() bool, node func(ctx context.Context, f Flags) error) {
	if len(os.Args) == 1 {
		if !launch() {
			os.Exit(1)
		}
		os.Exit(0)
	}
	var f Flags
	var key string
	flag.StringVar(&f.Name, "name", "", "node name, unique in the cluster (default: host name and a random suffix)")
	flag.StringVar(&f.Bind, "bind", "127.0.0.1:7946", "ip:port to listen on, UDP and TCP")
	flag.StringVar(&f.Join, "join", "", "comma-separated addresses of members to join (default: start a new cluster)")
	flag.StringVar(&key, "key", "", "the cluster's secret key in hex, 16, 24 or 32 bytes (default: an open cluster)")
	flag.Parse()

	err := f.decodeKey(key)
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = node(ctx, f)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// decodeKey sets f.Key from the hex of -key, leaving it nil, an open
// cluster, if -key is empty.
func (f *Flags) decodeKey(s string) error {
	key, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	if len(key) > 0 {
		f.Key = key
	}
	return nil
}

// Join joins node to the cluster through seeds, the comma-separated
// addresses of -join, and prints "joined via <seeds>"; with no seeds it
// does nothing. node.Join waits until a seed answers, so that the nodes
// can be started in any order; every few seconds without one this
// prints why and goes on waiting. A malformed seed, a wrong key or a
// name in use will not get better: node.Join returns those errors at
// once, and so does this; ctx.Err() if ctx ends first.
func Join(ctx context.Context, node *cluster.Node, seeds string) error {
	if seeds == "" {
		return nil
	}
	for {
		jctx, cancel := context.WithTimeout(ctx, joinReport)
		_, err := node.Join(jctx, strings.Split(seeds, ",")...)
		cancel()
		switch {
		case err == nil:
			fmt.Printf("joined via %s\n", seeds)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded): // refused
			return err
		}
		fmt.Printf("join: %v; still trying\n", err)
	}
}

// joinReport is how often Join reports that no seed answered yet.
const joinReport = 3 * time.Second

// Leave prints "leaving", leaves the cluster, so that the others see this
// node leave rather than fail, prints "left" and closes node. It gives
// the leave 5 s on a context of its own, since the node's has ended by
// then.
func Leave(node *cluster.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("leaving")
	if err := node.Leave(ctx); err != nil {
		return err
	}
	fmt.Println("left")
	return node.Close()
}
