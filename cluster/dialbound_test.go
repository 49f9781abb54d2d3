package cluster_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
)

// blackhole is a Network whose dials hang until their ctx ends while
// cut is set, as a dial to a peer behind a partition does (its packets
// are dropped, nothing refuses them).
type blackhole struct {
	cluster.SocketNetwork
	cut *atomic.Pointer[string] // the address cut off
}

func (b blackhole) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if p := b.cut.Load(); p != nil && *p == addr {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.SocketNetwork.Dial(ctx, addr)
}

// A call to a member that cannot be reached gives up its dial after the
// handshake timeout (5 s), with a connection error, not at the end of
// the caller's ctx: a caller that would wait a long time for the reply
// (a lock's waiter) can then ask elsewhere.
func TestCallDialBoundedWithinLongCtx(t *testing.T) {
	var cut atomic.Pointer[string]
	nodes := clustertest.Start(t, 3, func(i int) cluster.Config {
		if i == 1 {
			return cluster.Config{Network: blackhole{cut: &cut}}
		}
		return cluster.Config{}
	})
	addr := nodes[2].Addr()
	cut.Store(&addr) // n2 and n3 joined through n1: no RPC connection between them yet, so the call must dial
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err := nodes[1].Call(ctx, nodes[2].Name(), "any", nil, nil)
	took := time.Since(start)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v after %v, want a connection error before the ctx ends", err, took)
	}
	if took > 30*time.Second {
		t.Errorf("Call returned after %v, want about the 5 s handshake timeout", took)
	}
	t.Logf("Call = %v after %v", err, took)
}
