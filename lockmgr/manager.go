package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/hashring"
)

// Manager acquires and holds locks on one node. Make one per node (or
// more: each is a separate holder); every node that should count towards
// the majority must have one, because a node accepts grants only while it
// has a Manager. Safe for concurrent use.
type Manager struct {
	node    *cluster.Node
	srv     *server
	opt     options
	id      string          // this instance, part of every holder
	handles atomic.Uint64   // last handle
	ring    *hashring.Cache // the coordinators' ring of the last view

	hooks testHooks // set by tests only

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the locks' renew loops, clean-ups of acquisitions

	mu     sync.Mutex // protects closed and locks
	closed bool
	locks  map[string]*Lock
}

// testHooks stand in, in tests, for a process frozen at a given point;
// nil in production.
type testHooks struct {
	afterGrant  func() // Acquire got its grant and has not yet returned
	beforeRenew func() // a renew loop is about to send a renewal
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
	m.srv = acquireServer(n, o.lockDelay)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Acquire blocks until this Manager holds id, and returns the Lock. It
// returns ErrTimeout when the Wait option elapsed first, ctx.Err() when
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
// held or has waiters. It still waits out a new acceptor's quiet period.
func (m *Manager) TryAcquire(ctx context.Context, id string, opts ...AcquireOption) (*Lock, error) {
	return m.acquire(ctx, id, true, opts)
}

func (m *Manager) acquire(ctx context.Context, id string, try bool, opts []AcquireOption) (*Lock, error) {
	o, err := m.acqOptions(id, opts)
	if err != nil {
		return nil, err
	}
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	if m.opt.quorum && !hasQuorum(m.node) {
		return nil, fmt.Errorf("lockmgr: acquire %q: %w", id, ErrNoQuorum)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(m.ctx, cancel)()
	defer cancel()
	if o.wait > 0 {
		cctx, cancel = context.WithTimeout(cctx, o.wait)
		defer cancel()
	}
	for {
		h := holder{Node: m.node.Name(), Mgr: m.id, Handle: m.handles.Add(1)}
		req := acquireReq{ID: id, Holder: h, TTL: o.ttl, Try: try, Quorum: m.opt.quorum, Replicas: m.opt.replicas}
		coord, token, start, err := m.ask(cctx, req)
		if err != nil {
			// Return now, at the caller's deadline; the clean-up
			// (up to two calls of TTL/4) goes on in the background.
			m.cleanup(func() { m.abandon(coord, id, h, 0, o.ttl) })
			return nil, m.acquireErr(ctx, cctx, id, err)
		}
		if m.hooks.afterGrant != nil {
			m.hooks.afterGrant()
		}
		if time.Now().Before(start.Add(o.ttl)) {
			return m.hold(id, h, coord, token, o.ttl, start)
		}
		// The lease ran out before Acquire could return it: this
		// process was frozen (GC, SIGSTOP, a stopped VM) after the
		// grant. Never hand out a dead lock: free the grant, so the
		// next waiter is served, and queue again.
		m.cleanup(func() { m.abandon("", id, h, token, o.ttl) })
	}
}

// ask sends the acquisition to the id's coordinator, or to the next ring
// successor while the owner is unreachable or has no Manager. It returns
// the coordinator last asked and, on success, the token and the start
// of the lease: the send time plus the time the coordinator kept the
// request before its winning claim.
func (m *Manager) ask(ctx context.Context, req acquireReq) (coord string, token uint64, start time.Time, err error) {
	names := memberNames(m.node)
	err = fmt.Errorf("%w: no member to ask", ErrNoQuorum)
	for _, owner := range m.ring.Ring(names).Owners(req.ID, len(names)) {
		coord = owner
		sent := time.Now()
		var resp acquireResp
		err = m.node.Call(ctx, owner, methodAcquire, req, &resp)
		if err == nil {
			return coord, resp.Token, sent.Add(resp.Waited), nil
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return coord, 0, time.Time{}, err
}

func (m *Manager) acqOptions(id string, opts []AcquireOption) (acqOptions, error) {
	o := acqOptions{ttl: DefaultTTL}
	if err := checkID(id); err != nil {
		return o, err
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if holdFor(o.ttl) > m.opt.lockDelay {
		return o, fmt.Errorf("lockmgr: TTL %v: want at most LockDelay/1.25 (%v)", o.ttl, m.opt.lockDelay*4/5)
	}
	return o, nil
}

// retryable reports whether the next ring successor should be asked:
// the owner was unreachable or has no Manager.
func retryable(err error) bool {
	var re *cluster.RemoteError
	return !errors.As(err, &re) || errors.Is(err, cluster.ErrUnknownMethod)
}

func (m *Manager) acquireErr(ctx, cctx context.Context, id string, err error) error {
	switch {
	case m.ctx.Err() != nil:
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case cctx.Err() != nil:
		return fmt.Errorf("lockmgr: acquire %q: %w", id, ErrTimeout)
	}
	return fmt.Errorf("lockmgr: acquire %q: %w", id, err)
}

// abandon ends a failed acquisition's waiter at its coordinator (if
// coord is not "") and frees any grant it may have left behind (a reply
// lost or late, or a lease that ran out before Acquire returned; token 0
// frees whatever h holds), so it does not block others for a whole
// hold. It takes at most TTL/2.
func (m *Manager) abandon(coord, id string, h holder, token uint64, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), ttl/4)
	defer cancel()
	if coord != "" {
		m.node.Call(ctx, coord, methodCancel, cancelReq{ID: id, Holder: h}, nil)
	}
	rel := releaseReq{ID: id, Token: token, Holder: h, Final: true}
	cluster.CallAll[struct{}](context.Background(), m.node, nil, methodRelease, rel, ttl/4)
}

// cleanup runs f on a goroutine that Close waits for; on a closed
// Manager, whose goroutines Close may already have waited for, it runs f
// before returning. f must end on its own within a bounded time.
func (m *Manager) cleanup(f func()) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		f()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// hold starts the lease of a won grant and its renew loop.
func (m *Manager) hold(id string, h holder, coord string, token uint64, ttl time.Duration, start time.Time) (*Lock, error) {
	l := &Lock{m: m, id: id, h: h, coord: coord, token: token, ttl: ttl, start: start, leaseEnd: start.Add(ttl),
		done: make(chan struct{}), stop: make(chan struct{}), released: make(chan struct{})}
	if m.opt.clock != nil {
		l.grantedAt, _ = m.opt.clock.Now()
	}
	if !m.start(l) {
		m.abandon("", id, h, token, ttl)
		return nil, ErrClosed
	}
	return l, nil
}

// start registers l and starts its renew loop, unless m is closed.
func (m *Manager) start(l *Lock) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.locks[l.id] = l
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		l.keep()
	}()
	return true
}

// Coordinator returns the member that coordinates id as this node sees
// the cluster now: the owner of id on the hash ring of the members, which
// queues the waiters of id in FIFO order. It is for diagnostics (which
// node to watch, or to crash in a test); safety never rests on it, and
// nodes whose views differ may name different coordinators for a while.
func (m *Manager) Coordinator(id string) string {
	names := memberNames(m.node)
	if len(names) == 0 {
		return ""
	}
	return m.ring.Ring(names).Owners(id, 1)[0]
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
		return fmt.Errorf("lockmgr: release %q: %w", id, ErrNotHeld)
	}
	return l.Release(ctx)
}

// Close releases every lock this Manager holds, ends its pending
// acquisitions (they return ErrClosed) and waits for its goroutines.
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
	releaseServer(m.srv)
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
