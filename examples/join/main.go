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
	"context"
	"fmt"
	"strings"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func main() { demo.Main(launch, runNode) }

// runNode runs one node until ctx ends, printing the members on every
// membership event; then it leaves the cluster and closes.
func runNode(ctx context.Context, f demo.Flags) error {
	node, err := cluster.New(cluster.Config{
		Name:      f.Name,
		BindAddr:  f.Bind,
		SecretKey: f.Key,
		Profile:   cluster.Local, // quick failure detection, for one machine
	})
	if err != nil {
		return err
	}
	defer node.Close()
	events := node.Watch(ctx, 16).C
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())

	// Any one member is enough: node.Join, retried until a seed answers.
	if err := demo.Join(ctx, node, f.Join); err != nil {
		return err
	}
	for {
		select {
		case e, ok := <-events:
			if !ok { // ctx ended: the watch is over
				return demo.Leave(node)
			}
			fmt.Printf("%s %s -> members: %s\n", e.Type, e.Member.Name, memberNames(node))
		case <-ctx.Done():
			// node.Leave, then Close: the others see a leave, not a
			// failure.
			return demo.Leave(node)
		}
	}
}

func memberNames(node *cluster.Node) string {
	var names []string
	for _, m := range node.Members() {
		names = append(names, m.Name)
	}
	return strings.Join(names, " ")
}

// launch runs nodes a, b and c as child processes of this program, b and
// c joining a, and relays their output. Once each has listed all three
// members it interrupts them, as Ctrl-C would, so that they leave. It
// reports whether every child exited cleanly within 30 s.
func launch() bool {
	sawAll := map[string]bool{}
	l := &demo.Launcher{Nodes: []string{"a", "b", "c"}}
	l.OnLine = func(node, text string) {
		if _, list, ok := strings.Cut(text, "members: "); ok && len(strings.Fields(list)) == 3 && !sawAll[node] {
			sawAll[node] = true
			if len(sawAll) == 3 {
				l.Interrupt()
			}
		}
	}
	return l.Run()
}
