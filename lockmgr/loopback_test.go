package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// On real loopback sockets, LockDelay is lbDelay and leases are lbTTL
// (short, so that a crashed holder's lease runs out soon) or, in the
// tests that hammer many holds, hammerTTL: long enough that a machine
// stalled by the race detector and a parallel build does not let a
// lease lapse between Acquire and Release (it did at 400 ms: Release
// returned ErrLeaseExpired).
const (
	lbDelay   = 2500 * time.Millisecond // allows TTLs up to 2 s (TTL+TTL/4 <= LockDelay)
	lbTTL     = 400 * time.Millisecond
	hammerTTL = 2 * time.Second
)

// loopback is a cluster of nodes on 127.0.0.1 with one Manager each.
type loopback struct {
	nodes []*cluster.Node
	m     []*lockmgr.Manager
}

// startLoopback starts n nodes on free loopback ports, joins them to the
// first, waits until every node sees all n, then gives each a Manager.
// Cleanup closes the Managers, then the nodes.
func startLoopback(tb testing.TB, n int) *loopback {
	tb.Helper()
	lb := &loopback{nodes: clustertest.Start(tb, n, func(int) cluster.Config {
		return cluster.Config{ExpectedSize: n}
	})}
	tb.Cleanup(lb.close) // registered after the nodes', so it runs first
	for _, node := range lb.nodes {
		m, err := lockmgr.New(node, lockmgr.LockDelay(lbDelay))
		if err != nil {
			tb.Fatal(err)
		}
		lb.m = append(lb.m, m)
	}
	return lb
}

// close closes the Managers; clustertest closes the nodes after.
func (lb *loopback) close() {
	for _, m := range lb.m {
		m.Close()
	}
}

// guarded is state that only the lock holder touches: no mutex, no
// atomics. If two holds overlapped, the count would come out short, the
// token order would break, or the race detector would report it.
type guarded struct {
	count     int
	lastToken uint64
	holding   bool
}

// enter is the critical section: it checks exclusion and token order and
// counts. It returns a description of any violation.
func (g *guarded) enter(l *lockmgr.Lock) string {
	var bad string
	switch {
	case g.holding:
		bad = fmt.Sprintf("token %d entered while another hold was inside", l.Token())
	case l.Token() <= g.lastToken:
		bad = fmt.Sprintf("token %d granted after token %d", l.Token(), g.lastToken)
	}
	g.holding = true
	g.lastToken = l.Token()
	c := g.count
	time.Sleep(0) // invite an interleaving
	g.count = c + 1
	g.holding = false
	return bad
}

// hammer runs perNode goroutines on every Manager of lb, each doing iters
// Acquire/enter/Release rounds on ids[i%len(ids)] for its i-th round, and
// reports every violation and error through t.
func hammer(t *testing.T, lb *loopback, ids []string, state []guarded, perNode, iters int) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for ni, m := range lb.m {
		for g := range perNode {
			wg.Go(func() {
				for i := range iters {
					k := (ni*perNode + g + i) % len(ids)
					if err := holdOnce(ctx, m, ids[k], &state[k]); err != nil {
						t.Errorf("n%d goroutine %d round %d: %v", ni+1, g, i, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// holdOnce acquires id, runs the critical section on g, checks the lease
// held throughout, and releases.
func holdOnce(ctx context.Context, m *lockmgr.Manager, id string, g *guarded) error {
	l, err := m.Acquire(ctx, id, lockmgr.TTL(hammerTTL))
	if err != nil {
		return fmt.Errorf("acquire %s: %w", id, err)
	}
	bad := g.enter(l)
	select {
	case <-l.Done():
		bad += fmt.Sprintf(" lease of %s token %d ended while in use", id, l.Token())
	default:
	}
	if err := l.Release(context.Background()); err != nil {
		return fmt.Errorf("release %s token %d: %w", id, l.Token(), err)
	}
	if bad != "" {
		return errors.New(bad)
	}
	return nil
}

func TestLoopbackOneID(t *testing.T) {
	tests := []struct {
		name                  string
		nodes, perNode, iters int
	}{
		{"3 nodes", 3, 8, 25},
		{"5 nodes", 5, 4, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := startLoopback(t, tt.nodes)
			state := make([]guarded, 1)
			begin := time.Now()
			hammer(t, lb, []string{"counter"}, state, tt.perNode, tt.iters)
			want := tt.nodes * tt.perNode * tt.iters
			t.Logf("%d holds in %v", want, time.Since(begin))
			if got := state[0].count; got != want {
				t.Errorf("count = %d, want %d", got, want)
			}
		})
	}
}

func TestLoopbackManyIDs(t *testing.T) {
	tests := []struct {
		name                       string
		nodes, ids, perNode, iters int
	}{
		{"3 nodes 32 ids", 3, 32, 8, 32},
		{"5 nodes 32 ids", 5, 32, 4, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := startLoopback(t, tt.nodes)
			ids := make([]string, tt.ids)
			for i := range ids {
				ids[i] = fmt.Sprintf("id-%d", i)
			}
			state := make([]guarded, tt.ids)
			begin := time.Now()
			hammer(t, lb, ids, state, tt.perNode, tt.iters)
			total := 0
			for _, g := range state {
				total += g.count
			}
			want := tt.nodes * tt.perNode * tt.iters
			t.Logf("%d holds on %d ids in %v", want, tt.ids, time.Since(begin))
			if total != want {
				t.Errorf("counts add up to %d, want %d", total, want)
			}
		})
	}
}

// TestLoopbackFence: a holder whose node crashes loses the lock once its
// lease has run out; the next holder has a higher token, and a Fence
// refuses the old holder's late write.
func TestLoopbackFence(t *testing.T) {
	lb := startLoopback(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var fence lockmgr.Fence
	const id = "fenced"
	old, err := lb.m[0].Acquire(ctx, id, lockmgr.TTL(lbTTL))
	if err != nil {
		t.Fatal(err)
	}
	if err := fence.Check(id, old.Token()); err != nil {
		t.Fatalf("holder's write with token %d: %v", old.Token(), err)
	}
	got := make(chan *lockmgr.Lock, 1)
	go func() {
		l, err := lb.m[1].Acquire(ctx, id, lockmgr.TTL(lbTTL))
		if err != nil {
			t.Errorf("n2 acquire: %v", err)
		}
		got <- l
	}()
	crashed := time.Now()
	lb.nodes[0].Close() // a crash: no leave, no release
	l := <-got
	if l == nil {
		return
	}
	t.Logf("n2 granted token %d %v after n1 crashed holding token %d", l.Token(), time.Since(crashed), old.Token())
	if l.Token() <= old.Token() {
		t.Errorf("new token %d not above the crashed holder's %d", l.Token(), old.Token())
	}
	if err := fence.Check(id, l.Token()); err != nil {
		t.Errorf("new holder's write with token %d: %v", l.Token(), err)
	}
	if err := fence.Check(id, old.Token()); !errors.Is(err, lockmgr.ErrStaleToken) {
		t.Errorf("late write with old token %d = %v, want ErrStaleToken", old.Token(), err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("release: %v", err)
	}
}
