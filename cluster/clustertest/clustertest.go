// Package clustertest starts clusters of real cluster nodes on loopback
// sockets for tests and benchmarks.
package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// joinTimeout bounds each Join and the wait for full membership.
const joinTimeout = 10 * time.Second

// Start starts n nodes on free loopback ports, joins nodes 2..n through
// the first, and waits up to 10 s until every node sees all n members,
// failing tb otherwise. It returns the nodes in start order; they are
// closed at tb's cleanup (closing a node earlier is fine).
//
// cfg, if not nil, gives node i's (0-based) Config. Fields it leaves at
// their zero value get defaults: Name "n1".."nN" (i+1), BindAddr
// "127.0.0.1:0" and Profile cluster.Local (so cfg cannot ask for the
// LAN profile, which is Profile's zero value).
//
// Start must be called from the goroutine running the test or
// benchmark.
func Start(tb testing.TB, n int, cfg func(i int) cluster.Config) []*cluster.Node {
	tb.Helper()
	return StartProfile(tb, n, cluster.Local, cfg)
}

// StartProfile is Start with profile p for the nodes whose Config leaves
// Profile at its zero value (LAN): StartProfile(tb, n, cluster.LAN, cfg)
// starts nodes with the default profile users get.
func StartProfile(tb testing.TB, n int, p cluster.Profile, cfg func(i int) cluster.Config) []*cluster.Node {
	tb.Helper()
	nodes := make([]*cluster.Node, 0, n)
	tb.Cleanup(func() {
		for _, node := range nodes {
			node.Close()
		}
	})
	for i := range n {
		var c cluster.Config
		if cfg != nil {
			c = cfg(i)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("n%d", i+1)
		}
		if c.BindAddr == "" {
			c.BindAddr = "127.0.0.1:0"
		}
		if c.Profile == cluster.LAN {
			c.Profile = p
		}
		node, err := cluster.New(c)
		if err != nil {
			tb.Fatalf("clustertest: start %s: %v", c.Name, err)
		}
		nodes = append(nodes, node)
		if i > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
			_, err := node.Join(ctx, nodes[0].Addr())
			cancel()
			if err != nil {
				tb.Fatalf("clustertest: %s join: %v", node.Name(), err)
			}
		}
	}
	deadline := time.Now().Add(joinTimeout)
	for {
		var short *cluster.Node // a node that does not see all n yet
		for _, node := range nodes {
			if len(node.Members()) != n {
				short = node
				break
			}
		}
		if short == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("clustertest: %s sees %d members after %v, want %d",
				short.Name(), len(short.Members()), joinTimeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nodes
}
