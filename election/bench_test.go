package election_test

import (
	"context"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/election"
)

// BenchmarkResignHandover measures, on real loopback sockets, the time
// from a leader's Resign to the next candidate leading (3 nodes, Local).
func BenchmarkResignHandover(b *testing.B) {
	nodes := clustertest.Start(b, 3, zeroBased)
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
