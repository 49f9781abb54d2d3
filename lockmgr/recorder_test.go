package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/hashring"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// hold is one recorded grant: from Acquire's return to Done's close or
// the call of Release. A zero End means still held.
type hold struct {
	ID    string
	Token uint64
	Node  string
	Start time.Time
	End   time.Time
}

// recorder records grants and checks L1-L3 on them.
type recorder struct {
	mu    sync.Mutex // protects holds
	holds []*hold
	wg    sync.WaitGroup
	// unsafe: the test runs without quorum and judges violations itself.
	unsafe bool
}

// add records a new grant and watches its Done.
func (r *recorder) add(node string, l *lockmgr.Lock) *hold {
	h := &hold{ID: l.ID(), Token: l.Token(), Node: node, Start: time.Now()}
	r.mu.Lock()
	r.holds = append(r.holds, h)
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		<-l.Done()
		r.end(h)
	}()
	return h
}

func (r *recorder) end(h *hold) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.End.IsZero() {
		h.End = time.Now()
	}
}

// release ends the hold, then releases the lock.
func (r *recorder) release(t *testing.T, h *hold, l *lockmgr.Lock) {
	t.Helper()
	r.end(h)
	if err := l.Release(context.Background()); err != nil {
		t.Errorf("%s release token %d: %v", h.Node, h.Token, err)
	}
}

// releaseLapsed is release for a hold taken just after a heal, which
// may cost it its lease: a node that saw the voters' leader fail during
// the fault has its connections to it dropped, and cannot reach it until
// it sees it alive again, which can outlast a 400 ms lease. ErrNotHeld
// is allowed then, once Done closed.
func (r *recorder) releaseLapsed(t *testing.T, h *hold, l *lockmgr.Lock) {
	t.Helper()
	r.end(h)
	err := l.Release(context.Background())
	switch {
	case err == nil:
	case errors.Is(err, lockmgr.ErrNotHeld):
		select {
		case <-l.Done():
			t.Logf("%s token %d: the lease ended after the heal: %v", h.Node, h.Token, err)
		default:
			t.Errorf("%s token %d: Release says not held but Done is open", h.Node, h.Token)
		}
	default:
		t.Errorf("%s release token %d: %v", h.Node, h.Token, err)
	}
}

// violations checks that, per id, tokens strictly increase in start
// order (L1, L2) and no two holds overlap (L3).
func (r *recorder) violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	byID := map[string][]hold{}
	for _, h := range r.holds {
		byID[h.ID] = append(byID[h.ID], *h)
	}
	var out []string
	for id, hs := range byID {
		slices.SortStableFunc(hs, func(a, b hold) int { return a.Start.Compare(b.Start) })
		for i := 1; i < len(hs); i++ {
			a, b := hs[i-1], hs[i]
			if b.Token <= a.Token {
				out = append(out, fmt.Sprintf("%s: token %d (%s) at %v not above %d (%s)", id, b.Token, b.Node, b.Start, a.Token, a.Node))
			}
			if a.End.IsZero() || a.End.After(b.Start) {
				out = append(out, fmt.Sprintf("%s: hold %d (%s) ends %v after %d (%s) starts %v", id, a.Token, a.Node, a.End, b.Token, b.Node, b.Start))
			}
		}
	}
	return out
}

func (r *recorder) tokens(id string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, h := range r.holds {
		if h.ID == id {
			out = append(out, h.Token)
		}
	}
	return out
}

// Test timings: short leases so that scenarios take a few virtual seconds.
const (
	testTTL   = 400 * time.Millisecond
	testDelay = 500 * time.Millisecond
)

// env is a sim cluster with a Manager on every node and a recorder that
// is checked at cleanup.
type env struct {
	c   *sim.Cluster
	m   map[string]*lockmgr.Manager
	rec *recorder
}

func startEnv(t *testing.T, nodes int, opts ...lockmgr.Option) *env {
	t.Helper()
	c := simtest.Start(t, nodes, 1)
	e := &env{c: c, m: map[string]*lockmgr.Manager{}, rec: &recorder{}}
	opts = append([]lockmgr.Option{lockmgr.LockDelay(testDelay)}, opts...)
	for _, n := range c.Nodes() {
		m, err := lockmgr.New(n, opts...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		e.m[n.Name()] = m
	}
	t.Cleanup(func() {
		for _, m := range e.m {
			m.Close()
		}
		e.rec.wg.Wait()
		for _, v := range e.rec.violations() {
			if !e.rec.unsafe {
				t.Error(v)
			}
		}
	})
	time.Sleep(testDelay)
	// Tests of partitions count on every node of a small cluster being
	// a voter; the group may be founded by fewer (those the founder saw
	// first) and grow a moment later.
	waitWholeGroup(t, c, min(nodes, 5)-(1-min(nodes, 5)%2))
	return e
}

// waitWholeGroup waits until some node leads a voter group of want
// voters and no learner.
func waitWholeGroup(t *testing.T, c *sim.Cluster, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, n := range c.Nodes() {
			svc, release := voters.Acquire(n)
			in := svc.Info()
			release()
			if in.Role == "leader" && len(in.Voters) == want && len(in.Learners) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no voter group of %d voters 30 s after the start", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acquire acquires id on node and records the grant.
func (e *env) acquire(t *testing.T, node, id string, opts ...lockmgr.AcquireOption) (*lockmgr.Lock, *hold) {
	t.Helper()
	l, err := e.m[node].Acquire(context.Background(), id, append([]lockmgr.AcquireOption{lockmgr.TTL(testTTL), lockmgr.Wait(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("%s Acquire(%q): %v", node, id, err)
	}
	return l, e.rec.add(node, l)
}

// acquireAsync acquires id on node in a goroutine and sends the lock,
// or nil after reporting the error (t.Fatal may not be called from
// another goroutine): the receiver stops the test on nil.
func (e *env) acquireAsync(t *testing.T, node, id string) <-chan *lockmgr.Lock {
	got := make(chan *lockmgr.Lock, 1)
	go func() {
		l, err := e.m[node].Acquire(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(30*time.Second))
		if err != nil {
			t.Errorf("%s Acquire(%q): %v", node, id, err)
			got <- nil
			return
		}
		e.rec.add(node, l)
		got <- l
	}()
	return got
}

// received returns the lock from acquireAsync, stopping the test on nil.
func received(t *testing.T, got <-chan *lockmgr.Lock) *lockmgr.Lock {
	t.Helper()
	l := <-got
	if l == nil {
		t.FailNow()
	}
	return l
}

func (r *recorder) last() *hold {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holds[len(r.holds)-1]
}

// owner returns the coordinator of id by n1's view... of all nodes.
func owner(e *env, id string) string {
	return hashring.New(e.c.Names(), 64).Owners(id, 1)[0]
}

// idOwnedBy returns an id whose coordinator is node, and makes every
// Manager of e take the ring's owner as coordinator (not the voters'
// leader first).
func idOwnedBy(t *testing.T, e *env, node string) string {
	t.Helper()
	for _, m := range e.m {
		lockmgr.SetRingCoordinators(m)
	}
	for i := range 1000 {
		if id := fmt.Sprintf("id-%d", i); owner(e, id) == node {
			return id
		}
	}
	t.Fatalf("no id owned by %s", node)
	return ""
}
