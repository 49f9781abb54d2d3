package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/leases"
)

func (m *Manager) acquire(ctx context.Context, id string, try bool, opts []AcquireOption) (*Lock, error) {
	start := time.Now()
	m.stats.acquiring.Add(1)
	l, err := m.acquireLoop(ctx, id, try, opts)
	m.stats.acquiring.Add(-1)
	m.stats.acquired(start, err)
	return l, err
}

func (m *Manager) acquireLoop(ctx context.Context, id string, try bool, opts []AcquireOption) (*Lock, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if isSlotID(id) {
		return nil, fmt.Errorf("lockmgr: id %.40q: the form of a semaphore slot is reserved (use AcquireSemaphore)", id)
	}
	o, err := m.acqOptions(opts)
	if err != nil {
		return nil, err
	}
	return m.acquireName(ctx, lockName{id: id, slot: -1}, try, o)
}

// callContext returns ctx, ended too when m closes and, if wait > 0,
// after wait: the context of one call.
func (m *Manager) callContext(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(m.ctx, cancel)
	if wait <= 0 {
		return cctx, func() { stop(); cancel() }
	}
	cctx, cancelWait := context.WithTimeout(cctx, wait)
	return cctx, func() { cancelWait(); stop(); cancel() }
}

// acquireName is acquire of a valid name with valid options.
func (m *Manager) acquireName(ctx context.Context, n lockName, try bool, o acqOptions) (*Lock, error) {
	id := n.id
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := m.callContext(ctx, o.wait)
	defer cancel()
	for {
		req := acquireReq{ID: id, TTL: o.ttl, Try: try, Quorum: m.opt.quorum, Replicas: m.opt.replicas}
		coord, h, token, start, err := m.ask(cctx, req)
		if err != nil {
			// Return now, at the caller's deadline; the clean-up
			// (up to two calls of TTL/4) goes on in the background.
			m.spawn(func() { m.abandon(coord, id, h, 0, o.ttl) })
			return nil, m.acquireErr(ctx, cctx, strconv.Quote(id), err)
		}
		if m.hooks.afterGrant != nil {
			m.hooks.afterGrant()
		}
		l := m.newLock(n, h, coord, token, o.ttl, start)
		if l.confirm(cctx) {
			return m.hold(l)
		}
		// The lease ran out before Acquire could return it (this
		// process was frozen after the grant: GC, SIGSTOP, a stopped
		// VM), and a renewal could not bring it back: another holder
		// may have the id by now. Never hand out a dead lock: free
		// the grant, so the next waiter is served, and queue again.
		m.spawn(func() { m.abandon(coord, id, h, token, o.ttl) })
		switch {
		case cctx.Err() != nil:
			return nil, m.acquireErr(ctx, cctx, strconv.Quote(id), cctx.Err())
		case try:
			return nil, errtext.Errorf("lockmgr: ", "lockmgr: acquire %q: %w: taken while this process stood still", id, ErrLocked)
		}
	}
}

// confirm makes sure a new lock's lease is worth returning. A lease with
// less than half its TTL left (Acquire returned late: a freeze, a slow
// reply) gets one renewal round at once, whose send time starts a full
// lease; it reports false if that round fell short of a majority, or the
// lease is over anyway by the time it ends.
func (l *Lock) confirm(ctx context.Context) bool {
	clk := l.m.node.Clock()
	if l.leaseEnd.Sub(clk.Now()) < l.ttl/2 {
		start := clk.Now()
		ok, _ := l.renewRound(ctx, l.ttl/3, 0)
		if !ok {
			return false
		}
		l.start, l.leaseEnd = start, start.Add(l.ttl)
	}
	return clk.Now().Before(l.leaseEnd)
}

// ask sends the acquisition to the id's coordinator, or to the next one
// (see coordinators) while it is unreachable, has no Manager or is busy
// with this node's waiters (errBusy: after every one was, again after
// busyRetry or so). It returns
// the coordinator last asked and the holder it was asked for and, on
// success, the token and the start of the lease (see leaseStart).
//
// Each coordinator is asked for a holder of its own. A coordinator given
// up on (its connection broke) may still be running a claim round for
// its holder; if it loses that round it frees that holder's grants. Were
// the holder shared, the next coordinator could win the very same token
// for it (the voters would take its claim as a repeat), and the first
// one's release would then free a grant that is held.
func (m *Manager) ask(ctx context.Context, req acquireReq) (coord string, h holder, token uint64, start time.Time, err error) {
	for {
		coord, h, token, start, err = m.askOnce(ctx, req)
		if !errors.Is(err, errBusy) || ctx.Err() != nil {
			return coord, h, token, start, err
		}
		// Every coordinator holds as many of this node's waiters as it
		// takes (maxWaitersFrom): one of them will end.
		if err := sleep(ctx, m.node.Clock(), nil, jitter(2*busyRetry)); err != nil {
			return coord, h, 0, time.Time{}, err
		}
	}
}

// askOnce is one pass of ask over the coordinators.
func (m *Manager) askOnce(ctx context.Context, req acquireReq) (coord string, h holder, token uint64, start time.Time, err error) {
	err = fmt.Errorf("%w: no member to ask", ErrNoQuorum)
	for _, owner := range m.coordinators(req.ID) {
		coord = owner
		h = holder{Node: m.node.Name(), Mgr: m.id, Handle: m.handles.Add(1)}
		req.Holder = h
		sent := m.node.Clock().Now()
		var resp acquireResp
		err = m.callCoordinator(ctx, owner, req, &resp)
		if err == nil {
			return coord, h, resp.Token, leaseStart(sent, resp.Waited), nil
		}
		if errors.Is(err, cluster.ErrUnknownMethod) {
			m.srv.noManager(owner)
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return coord, h, 0, time.Time{}, err
}

// leaseStart returns when the lease of a grant begins on this node's
// clock: the request's send time plus the time the coordinator kept it
// before sending its winning claim. That time is measured on the
// coordinator's clock and can be long (the wait in the queue), so it is
// discounted by the 10 % by which clock rates may differ (see L3): the
// result then precedes the winning claim, and so every voter's
// receipt of it, in real time.
func leaseStart(sent time.Time, waited time.Duration) time.Time {
	return sent.Add(waited / 11 * 10)
}

// callCoordinator sends req to owner. cluster runs a call to this node's
// own name inline, and the coordinator's claim rounds do not end with the
// caller's ctx, so that call runs aside and Acquire still returns at
// ctx's deadline; the coordinator frees a grant it wins after the
// caller gave up.
func (m *Manager) callCoordinator(ctx context.Context, owner string, req acquireReq, resp *acquireResp) error {
	if owner != m.node.Name() {
		return m.node.Call(ctx, owner, methodAcquire, req, resp)
	}
	done := make(chan error, 1)
	var r acquireResp
	if !m.spawn(func() { done <- m.node.Call(ctx, owner, methodAcquire, req, &r) }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		*resp = r
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) acqOptions(opts []AcquireOption) (acqOptions, error) {
	o := acqOptions{ttl: DefaultTTL}
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
// the owner was unreachable, has no Manager, or its last Manager closed
// while the caller waited there.
func retryable(err error) bool {
	var re *cluster.RemoteError
	return !errors.As(err, &re) || errors.Is(err, cluster.ErrUnknownMethod) || errors.Is(err, ErrClosed) || errors.Is(err, errBusy)
}

// acquireErr returns the error of an acquisition of what (a quoted id,
// or a semaphore's) that failed with err.
func (m *Manager) acquireErr(ctx, cctx context.Context, what string, err error) error {
	switch {
	case m.ctx.Err() != nil:
		return ErrClosed
	case over(ctx):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return context.DeadlineExceeded
	case over(cctx):
		return errtext.Errorf("lockmgr: ", "lockmgr: acquire %s: %w", what, ErrTimeout)
	}
	return errtext.Errorf("lockmgr: ", "lockmgr: acquire %s: %w", what, err)
}

// over reports whether ctx ended or its deadline passed: a reply that
// carries the deadline's error can arrive before ctx's own timer fired.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// abandon ends a failed acquisition's waiter at its coordinator (if
// coord is not "") and frees any grant it may have left behind (a reply
// lost or late, or a lease that ran out before Acquire returned; token 0
// frees whatever h holds), so it does not block others for a whole
// hold. It takes at most TTL/2.
func (m *Manager) abandon(coord, id string, h holder, token uint64, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), max(ttl/4, minClaimWait))
	defer cancel()
	if token == 0 && coord != "" {
		m.node.Call(ctx, coord, methodCancel, cancelReq{ID: id, Holder: h}, nil)
	}
	m.srv.do(ctx, m.opt.quorum, coord, []leases.Cmd{{Op: leases.OpRelease, Key: key(id), Holder: h.lease(), Token: token}})
}

// spawn runs f on a goroutine that Close waits for, unless m is closed
// (then it reports false and runs nothing). The clean-up of a given-up
// acquisition (f must end on its own in bounded time) is dropped so on a
// closed Manager: Close may have waited already, and running f inline
// would hold up the call past its deadline; what f would have freed
// expires at the voters within 1.25 TTL.
func (m *Manager) spawn(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// newLock makes the Lock of a won grant, not yet renewing.
func (m *Manager) newLock(n lockName, h holder, coord string, token uint64, ttl time.Duration, start time.Time) *Lock {
	l := &Lock{m: m, id: n.id, sem: n.sem, slot: n.slot, h: h, coord: coord, token: token, ttl: ttl, start: start, leaseEnd: start.Add(ttl),
		done: make(chan struct{}), stop: make(chan struct{}), released: make(chan struct{})}
	l.ctx, l.cancelCtx = context.WithCancelCause(context.Background())
	return l
}

// hold starts the lease of a won grant and its renew loop.
func (m *Manager) hold(l *Lock) (*Lock, error) {
	if m.opt.clock != nil {
		l.grantedAt, _ = m.opt.clock.Now()
	}
	if !m.start(l) {
		return nil, ErrClosed // the grant expires at the voters
	}
	return l, nil
}
