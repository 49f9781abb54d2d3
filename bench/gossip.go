package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// joinTimeout bounds starting a node, its join and the wait for full
// membership.
const joinTimeout = 10 * time.Second

// startNodes starts n gossipsync nodes named prefix1..prefixN on free
// loopback ports (UDP and TCP on 127.0.0.1), Local profile, quorum basis
// n (ExpectedSize), no secret key (the peers run without TLS too); it
// joins nodes 2..n through the first and waits until every node sees all
// n. On error it closes what it started.
func startNodes(ctx context.Context, prefix string, n int) ([]*cluster.Node, error) {
	var nodes []*cluster.Node
	for i := range n {
		seed := ""
		if i > 0 {
			seed = nodes[0].Addr()
		}
		node, err := joinNode(ctx, fmt.Sprintf("%s%d", prefix, i+1), n, seed)
		if err != nil {
			closeNodes(nodes)
			return nil, err
		}
		nodes = append(nodes, node)
	}
	if err := waitMembers(ctx, nodes, n); err != nil {
		closeNodes(nodes)
		return nil, err
	}
	return nodes, nil
}

// joinNode starts one node as startNodes does and, if seed is not "",
// joins it through seed.
func joinNode(ctx context.Context, name string, expected int, seed string) (*cluster.Node, error) {
	node, err := cluster.New(cluster.Config{
		Name:         name,
		BindAddr:     "127.0.0.1:0",
		Profile:      cluster.Local,
		ExpectedSize: expected,
	})
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", name, err)
	}
	if seed == "" {
		return node, nil
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if _, err := node.Join(ctx, seed); err != nil {
		node.Close()
		return nil, fmt.Errorf("node %s join: %w", name, err)
	}
	return node, nil
}

// waitMembers waits until every node sees at least want alive members,
// for up to joinTimeout.
func waitMembers(ctx context.Context, nodes []*cluster.Node, want int) error {
	return waitMembersFor(ctx, nodes, want, joinTimeout)
}

// waitMembersFor is waitMembers for up to d.
func waitMembersFor(ctx context.Context, nodes []*cluster.Node, want int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		short := -1
		for i, node := range nodes {
			if len(node.Members()) < want {
				short = i
				break
			}
		}
		if short < 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s sees %d members after %v, want %d",
				nodes[short].Name(), len(nodes[short].Members()), d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closeNodes(nodes []*cluster.Node) {
	for _, n := range nodes {
		n.Close()
	}
}
