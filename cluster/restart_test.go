package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// TestRestartWhileDialed restarts a keyed node hundreds of times on one
// address while peers keep dialing it, as peers do after a node crashed.
// Issue 12: New used to accept RPC connections before n.serf was set, so
// a hello that arrived meanwhile made checkPeer call Members on a nil
// *serf.Serf (a panic), or read n.serf without synchronisation (a race
// report under -race). Every incarnation must also serve a peer before it
// closes, so the dials reach a whole node, not only a starting one.
func TestRestartWhileDialed(t *testing.T) {
	const restarts = 300
	addr := freeAddr(t)
	peers := []*Node{newTestNode(t, "p0", testKey), newTestNode(t, "p1", testKey), newTestNode(t, "p2", testKey)}
	served := dialLoop(t, peers, addr)
	start := time.Now()
	for i := range restarts {
		n := newNodeOn(t, addr)
		waitFor(t, 10*time.Second, fmt.Sprintf("incarnation %d serves a peer", i), func() bool { return liveConns(n) > 0 })
		if err := n.Close(); err != nil {
			t.Fatalf("incarnation %d: Close: %v", i, err)
		}
	}
	t.Logf("%d restarts on %s in %v; %d dials served", restarts, addr, time.Since(start), served.Load())
}

// TestNewFailsCleanlyWhileDialed makes New fail after its listeners are
// bound (serf refuses to start) while peers dial the address: New must
// return its error without serving anyone, leave no goroutine behind
// (TestMain checks) and free the address.
func TestNewFailsCleanlyWhileDialed(t *testing.T) {
	addr := freeAddr(t)
	peers := []*Node{newTestNode(t, "p0", testKey), newTestNode(t, "p1", testKey)}
	served := dialLoop(t, peers, addr)
	errRefused := errors.New("serf refuses to start")
	createSerf = func(*serf.Config) (*serf.Serf, error) { return nil, errRefused }
	defer func() { createSerf = serf.Create }()
	for i := range 100 {
		var err error
		waitFor(t, 10*time.Second, "New to get past binding "+addr, func() bool {
			var n *Node
			n, err = New(Config{Name: "r", BindAddr: addr, SecretKey: testKey, Profile: Local})
			if n != nil {
				n.Close()
				t.Fatalf("attempt %d: New succeeded without serf", i)
			}
			return !errors.Is(err, syscall.EADDRINUSE)
		})
		if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "start gossip") {
			t.Fatalf("attempt %d: New = %v, want a gossip start error", i, err)
		}
	}
	createSerf = serf.Create
	if got := served.Load(); got != 0 {
		t.Errorf("a node whose New failed served %d dials, want 0", got)
	}
	n := newNodeOn(t, addr) // the address is free again
	waitFor(t, 10*time.Second, "the node after the failures serves a peer", func() bool { return liveConns(n) > 0 })
	n.Close()
}

// freeAddr returns a free address on a random 127.0.0.x, x >= 2: the
// connections this host opens to loopback start from 127.0.0.1, so their
// ephemeral ports do not land on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	n := newNodeOn(t, fmt.Sprintf("127.0.0.%d:0", 2+rand.N(250)))
	defer n.Close()
	return n.Addr()
}

// newNodeOn starts node "r" with testKey on addr, retrying while the
// address is taken: a socket of another process may hold the port for a
// moment between two incarnations.
func newNodeOn(t *testing.T, addr string) *Node {
	t.Helper()
	var n *Node
	waitFor(t, 10*time.Second, "bind "+addr, func() bool {
		var err error
		n, err = New(Config{Name: "r", BindAddr: addr, SecretKey: testKey, Profile: Local})
		if err != nil && !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("New on %s: %v", addr, err)
		}
		return err == nil
	})
	t.Cleanup(func() { n.Close() })
	return n
}

// dialLoop makes every peer dial addr over and over until the test ends,
// ignoring errors. A peer keeps each connection it gets until the node
// at addr drops it. It returns the count of dials that succeeded.
func dialLoop(t *testing.T, peers []*Node, addr string) *atomic.Int64 {
	var served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				c, err := p.dialRPC(ctx, addr)
				cancel()
				if err != nil {
					continue
				}
				served.Add(1)
				select {
				case <-c.done:
				case <-stop:
					c.close(ErrClosed)
				}
			}
		}()
	}
	// Registered after the peers' cleanups, so it runs before them.
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	return &served
}
