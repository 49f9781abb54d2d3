package lockmgr

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/hashring"
)

// Manager acquires and holds locks on one node. Make one per node (or
// more: each is a separate holder); every node that should count towards
// the majority must have one, because a node accepts grants only while it
// has a Manager. Safe for concurrent use.
type Manager struct {
	node *cluster.Node
	srv  *server
	// releaseSrv drops this Manager's reference to the node's server.
	releaseSrv func()
	opt        options
	id         string          // this instance, part of every holder
	handles    atomic.Uint64   // last handle
	ring       *hashring.Cache // the coordinators' ring of the last view

	hooks testHooks // set by tests only
	stats counters  // see Stats

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the locks' renew loops, clean-ups of acquisitions

	mu     sync.Mutex // protects closed and locks
	closed bool
	locks  map[string]*Lock
}

// testHooks stand in, in tests, for a process frozen at a given point
// (or for chance); nil in production.
type testHooks struct {
	afterGrant  func() // Acquire got its grant and has not yet returned
	beforeRenew func() // a renew loop is about to send a renewal
	// firstSlot picks the slot a semaphore pass starts at, in place of
	// a random one, so that a test knows which slots a waiter visits.
	firstSlot func(slots int) int
	// ringOnly: coordinators are the ring's owners alone, never the
	// voters' leader first, so that a test picks the coordinator by
	// the id.
	ringOnly bool
}

// New makes a Manager on n. The node starts accepting grants for every
// id at once (after its quiet period, see LockDelay); New does not join.
func New(n *cluster.Node, opts ...Option) (*Manager, error) {
	if n == nil {
		return nil, errors.New("lockmgr: New: nil node")
	}
	o := options{replicas: DefaultReplicas, quorum: true, lockDelay: DefaultLockDelay}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	m := &Manager{node: n, opt: o, locks: map[string]*Lock{}, id: strconv.FormatUint(rand.Uint64(), 36), ring: hashring.NewCache(vnodes)}
	m.srv, m.releaseSrv = acquireServer(n)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Acquire blocks until this Manager holds id, and returns the Lock. An
// id is 1 to MaxIDLen bytes; ids that begin with "\x00sem/" are the
// slots of semaphores (SlotID) and refused here. It returns ErrTimeout when the Wait option elapsed first, ctx.Err() when
// ctx ended, ErrNoQuorum at once in quorum mode when this node (or the
// id's coordinator) sees no majority, and ErrClosed after Close. Waiters
// are served first come, first served by the id's coordinator. A second
// Acquire of a held id from the same Manager waits like any other.
//
// Acquire returns by ctx's deadline (or Wait's); the clean-up of a
// given-up acquisition goes on in the background until done (at most
// TTL/2) or Close. It returns only a lock whose lease is still valid:
// when the process froze between the grant and the return past the
// lease's end, it frees that grant and queues again (at the back).
func (m *Manager) Acquire(ctx context.Context, id string, opts ...AcquireOption) (*Lock, error) {
	return m.acquire(ctx, id, false, opts)
}

// TryAcquire is Acquire that returns ErrLocked at once when the id is
// held or has waiters. It still waits while the voter group is being founded.
// The waiter of an Acquire that just gave up is dropped in the
// background, a round trip later; until then it counts as a waiter.
func (m *Manager) TryAcquire(ctx context.Context, id string, opts ...AcquireOption) (*Lock, error) {
	return m.acquire(ctx, id, true, opts)
}

// start registers l and starts its renew loop, unless m is closed.
func (m *Manager) start(l *Lock) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.locks[l.id] = l
	m.stats.grants.Add(1)
	m.stats.held.Add(1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		l.keep()
	}()
	return true
}

// Coordinator returns the member that an Acquire of id on this node
// asks first, which queues the waiters of id in FIFO order: in quorum
// mode the voters' leader as this node knows it, else (or while the
// leader is unknown) the owner of id on the hash ring of the voting
// members. It is for diagnostics (which node to watch, or to crash in a
// test); safety never rests on it, and nodes whose views differ may name
// different coordinators for a while.
func (m *Manager) Coordinator(id string) string {
	if c := m.coordinators(id); len(c) > 0 {
		return c[0]
	}
	return ""
}

// Release releases the lock this Manager holds on id, like Lock.Release.
// It returns ErrNotHeld if it holds none.
func (m *Manager) Release(ctx context.Context, id string) error {
	m.mu.Lock()
	l := m.locks[id]
	closed := m.closed
	m.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case l == nil:
		return errtext.Errorf("lockmgr: ", "lockmgr: release %q: %w", id, ErrNotHeld)
	}
	return l.Release(ctx)
}

// Close releases every lock this Manager holds, ends its pending
// acquisitions (they return ErrClosed) and waits for its goroutines,
// the background clean-up of given-up acquisitions among them.
// Later calls return ErrClosed. The node stops accepting grants when its
// last Manager closes. Idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	locks := maps.Clone(m.locks) // Lock.end deletes from m.locks
	m.mu.Unlock()
	for _, l := range locks {
		l.stopRenewing()
	}
	m.cancel()
	m.wg.Wait()
	m.releaseSrv()
	return nil
}

func (m *Manager) check(ctx context.Context) error {
	if m.ctx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}

func (m *Manager) forget(l *Lock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[l.id] == l {
		delete(m.locks, l.id)
	}
}
