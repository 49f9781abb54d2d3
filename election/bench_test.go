package election_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
)

// BenchmarkResignHandover measures, on real loopback sockets, the time
// from a leader's Resign to the next candidate leading (3 nodes, Local).
func BenchmarkResignHandover(b *testing.B) {
	var nodes []*cluster.Node
	for i := range 3 {
		n, err := cluster.New(cluster.Config{Name: fmt.Sprintf("n%d", i), BindAddr: "127.0.0.1:0", Profile: cluster.Local})
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		if i > 0 {
			if _, err := n.Join(context.Background(), nodes[0].Addr()); err != nil {
				b.Fatal(err)
			}
		}
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wins := make(chan *election.Elected)
	for _, n := range nodes {
		e, err := election.New(n)
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		go func() {
			for ctx.Err() == nil {
				el, err := e.Elect(ctx, n.Name())
				if err != nil {
					return
				}
				select {
				case wins <- el:
				case <-ctx.Done():
					return
				}
				<-el.Revoked()
			}
		}()
	}
	timeout := time.After(30 * time.Second)
	var el *election.Elected
	select {
	case el = <-wins:
	case <-timeout:
		b.Fatal("no leader within 30s")
	}
	b.ResetTimer()
	for b.Loop() {
		el.Resign(ctx)
		el = <-wins
	}
	b.StopTimer()
	el.Resign(ctx)
}
