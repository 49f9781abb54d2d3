package cluster

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// holdNet is the socket Network whose dials after the first wait until
// released: a joiner's RPC greeting to its seed goes through, and the
// gossip join that follows is held, so that a test can end Join's ctx
// while the cluster is about to admit the node.
type holdNet struct {
	SocketNetwork
	dials   atomic.Int32
	held    chan struct{} // gets a token when a dial is held
	release chan struct{} // closed to let held dials go
}

func (h *holdNet) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if h.dials.Add(1) > 1 {
		select {
		case h.held <- struct{}{}:
		default:
		}
		<-h.release
	}
	return h.SocketNetwork.Dial(ctx, addr)
}

// A Join that gave up at its deadline while the cluster admitted the node
// leaves no failed member behind: Close of a node whose every Join failed
// leaves gracefully, so the others see a leave and their quorum basis
// goes back down. On the code before, the others saw a failure and the
// phantom counted in their quorum basis (QuorumSize 3 of 4, not 2 of 3)
// until someone removed it.
func TestFailedJoinLeavesNoPhantom(t *testing.T) {
	nodes := newTestCluster(t, 3, testKey)
	hn := &holdNet{held: make(chan struct{}, 1), release: make(chan struct{})}
	d, err := New(Config{Name: "d", BindAddr: "127.0.0.1:0", SecretKey: testKey, Profile: Local, Network: hn})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := nodes[0].Watch(wctx, 16).C
	ctx, stop := context.WithCancel(context.Background())
	go func() { <-hn.held; stop() }() // the gossip join is under way: give up
	if _, err := d.Join(ctx, nodes[0].Addr()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join = %v, want context.Canceled", err)
	}
	close(hn.release) // the join completes in the background
	if e := waitEvent(t, events, "d"); e.Type != EventJoin {
		t.Fatalf("first event for d = %v, want join", e.Type)
	}
	if got, want := nodes[0].QuorumSize(), 3; got != want {
		t.Fatalf("QuorumSize with d admitted = %d, want %d", got, want)
	}
	d.Close()
	if e := waitEvent(t, events, "d"); e.Type != EventLeave {
		t.Fatalf("event for d after Close = %v, want leave", e.Type)
	}
	if got, want := nodes[0].QuorumSize(), 2; got != want {
		t.Errorf("QuorumSize after the failed joiner closed = %d, want %d", got, want)
	}
}

// RemoveFailed drops a crashed member from every quorum basis, as a
// leave would; it refuses an alive member and an unknown name.
func TestRemoveFailed(t *testing.T) {
	nodes := newTestCluster(t, 4, testKey)
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := nodes[0].Watch(wctx, 16).C
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := nodes[0].RemoveFailed(ctx, "n1"); !errors.Is(err, ErrMemberAlive) {
		t.Errorf("RemoveFailed of an alive member = %v, want ErrMemberAlive", err)
	}
	if err := nodes[0].RemoveFailed(ctx, "nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("RemoveFailed of an unknown name = %v, want ErrUnknownNode", err)
	}
	nodes[3].Close() // a crash
	if e := waitEventAfterJoin(t, events, "n3"); e.Type != EventFail {
		t.Fatalf("event for n3 = %v, want fail", e.Type)
	}
	if got, want := nodes[1].QuorumSize(), 3; got != want {
		t.Fatalf("QuorumSize after a crash = %d, want %d", got, want)
	}
	if err := nodes[0].RemoveFailed(ctx, "n3"); err != nil {
		t.Fatalf("RemoveFailed: %v", err)
	}
	if e := waitEvent(t, events, "n3"); e.Type != EventLeave {
		t.Fatalf("event for n3 after RemoveFailed = %v, want leave", e.Type)
	}
	for _, n := range nodes[:3] {
		waitFor(t, 10*time.Second, n.Name()+"'s quorum basis back to 3", func() bool { return n.QuorumSize() == 2 })
	}
}
