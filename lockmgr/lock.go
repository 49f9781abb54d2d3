package lockmgr

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/leases"
)

// Lock is a held lock: a lease on an id with a fencing token. It is held
// until Done closes. Safe for concurrent use.
type Lock struct {
	m         *Manager
	id        string
	sem       string // the semaphore of a slot lock, else ""
	slot      int    // the slot of a semaphore, else -1
	h         holder
	coord     string // the coordinator that granted it, woken on release
	token     uint64
	ttl       time.Duration
	grantedAt time.Time

	start time.Time // when the lease of the grant began, on this node's clock

	mu       sync.Mutex // protects leaseEnd, ended and expired
	leaseEnd time.Time  // on this node's clock (its monotonic reading)
	ended    bool       // done is closed: the lock is gone for good
	expired  bool       // it ended by running out, not by a Release

	done      chan struct{} // closed when the lease ends (endLocked)
	ctx       context.Context
	cancelCtx context.CancelCauseFunc // by endLocked, with why
	stop      chan struct{}           // closed by Release
	stopOnce  sync.Once
	released  chan struct{} // closed once the voters were told
}

// ID returns the lock's id. For a slot of a semaphore it is the slot's
// own id, SlotID(l.Semaphore(), l.Slot()): the id its Token is unique
// and increasing for (key a Fence by it), and the one Manager.Release
// and Manager.Coordinator take.
func (l *Lock) ID() string { return l.id }

// Semaphore returns the id of the semaphore whose slot l holds, or ""
// for a plain lock.
func (l *Lock) Semaphore() string { return l.sem }

// Slot returns which slot of its semaphore l holds, from 0 to slots-1,
// or -1 for a plain lock.
func (l *Lock) Slot() int { return l.slot }

// Token returns the fencing token: unique per id, and greater than the
// token of every grant of the id that ended before this one was made.
// Pass it to the guarded resource (see Fence).
func (l *Lock) Token() uint64 { return l.token }

// GrantedAt returns the cluster time of the grant, if the Manager has a
// clock (Clock) that was synced then; else the zero time.
func (l *Lock) GrantedAt() time.Time { return l.grantedAt }

// Done returns a channel that closes when the lock may no longer be
// used: it was released, or its lease could not be renewed by a majority
// before it ran out (then it closes before the voters free the id),
// or the voters refused a renewal (the grant is gone).
//
// Done is a notification and can come late: a process that was frozen
// (a long GC pause, SIGSTOP, a stopped VM) may run its own code before
// the timer that closes Done. Right before a side effect, ask Valid,
// which reads the clock itself; and fence the side effect with Token.
func (l *Lock) Done() <-chan struct{} { return l.done }

// Context returns a context that is canceled when the lock ends, as
// Done closes, so that work under the lock can be bounded by it without
// a select: context.Cause tells why (ErrLeaseExpired, or ErrNotHeld
// once released). It has no deadline (each renewal moves the lease's end;
// see Deadline) and carries no values. Like Done it is a notification
// and can come late after the process was frozen: ask Valid right
// before a side effect, and fence it with Token.
func (l *Lock) Context() context.Context { return l.ctx }

// Valid reports whether the lock is still held: it was not released,
// Done has not closed, and the lease has not run out by this node's
// monotonic clock. Unlike a look at Done it is right even just after the
// process was frozen past the lease's end: then it closes Done itself
// and returns false, and the lock stays gone (a renewal that was under
// way cannot bring it back). Call it right before each side effect that
// the lock guards; between the check and the effect the process can
// still be frozen, which only the token (Fence) can catch.
func (l *Lock) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stop: // released: the renew loop ends it in a moment
		return false
	default:
	}
	if l.liveLocked(l.m.node.Clock().Now()) {
		return true
	}
	l.endLocked(true) // does nothing if it ended already
	return false
}

// liveLocked reports whether the lease is held at now: not ended, and
// now before its end.
func (l *Lock) liveLocked(now time.Time) bool { return !l.ended && now.Before(l.leaseEnd) }

// Deadline returns when the lease ends as this node knows it now: TTL
// after the send time of the last renewal a majority acknowledged, on
// this node's monotonic clock. Each renewal moves it later. It bounds
// work done under the lock (context.WithDeadline); whether the lock is
// still held is Valid's to say (a released lock keeps its Deadline).
func (l *Lock) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaseEnd
}

// endLocked closes Done, once.
func (l *Lock) endLocked(expired bool) {
	if l.ended {
		return
	}
	l.ended, l.expired = true, expired
	close(l.done)
	cause := errtext.Errorf("lockmgr: ", "lockmgr: %q released: %w", l.id, ErrNotHeld)
	if expired {
		cause = errtext.Errorf("lockmgr: ", "lockmgr: %q: %w", l.id, ErrLeaseExpired)
	}
	l.cancelCtx(cause)
}

// Release stops renewing the lease, frees the id at the voters and
// wakes the next waiter. It returns once the voters' leader has the
// release in its log (in quorum mode: one message to the leader and
// back, not a round of the voters; see Releases in the package doc),
// so every claim that leader takes after it is applied after the
// release. It returns ErrLeaseExpired (which is also ErrNotHeld) if the
// lease had run out, ErrNotHeld if released before. If ctx ends first,
// it returns ctx.Err() and the release goes on in the background.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	expired := l.expired
	l.mu.Unlock()
	if expired {
		return errtext.Errorf("lockmgr: ", "lockmgr: release %q: %w", l.id, ErrLeaseExpired)
	}
	first := false
	l.stopOnce.Do(func() { first = true; close(l.stop) })
	if !first {
		return errtext.Errorf("lockmgr: ", "lockmgr: release %q: %w: already released", l.id, ErrNotHeld)
	}
	select {
	case <-l.released:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.expired {
			return errtext.Errorf("lockmgr: ", "lockmgr: release %q: %w", l.id, ErrLeaseExpired)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Lock) stopRenewing() { l.stopOnce.Do(func() { close(l.stop) }) }

// keep renews the lease every third of the TTL until it cannot, then
// ends it. The lease ends when Valid found it over, too: a renewal that
// was on its way then does not revive it.
func (l *Lock) keep() {
	m := l.m
	expired := true
	defer func() { l.end(expired) }()
	interval := l.ttl / 3
	// The grant itself was a majority's acknowledgement: the first
	// renewal is due at most a third of a TTL after the lease began (at
	// once, if Acquire returned late), on the grid of renewAt.
	if !l.pause(renewAt(l.start, interval)) {
		expired = false
		return
	}
	for {
		l.mu.Lock()
		leaseEnd, ended := l.leaseEnd, l.ended
		l.mu.Unlock()
		start := m.node.Clock().Now()
		if ended || !start.Before(leaseEnd) {
			return
		}
		if m.hooks.beforeRenew != nil {
			m.hooks.beforeRenew()
		}
		ok, lost := l.renewRound(m.ctx, min(interval, leaseEnd.Sub(start)), min(renewGather, interval/16))
		if lost {
			return
		}
		if ok {
			l.mu.Lock()
			// A lease that lapsed, even for a moment, stays over: the
			// holder may have seen it gone (as in package election).
			if !l.liveLocked(m.node.Clock().Now()) {
				l.mu.Unlock()
				return
			}
			leaseEnd = start.Add(l.ttl)
			l.leaseEnd = leaseEnd
			l.mu.Unlock()
		}
		next := renewAt(start, interval)
		if leaseEnd.Before(next) {
			next = leaseEnd // close Done on time if renewals keep failing
		}
		if !l.pause(next) {
			expired = false
			return
		}
	}
}

// pause waits until t, or the lock is released or its Manager closes
// (then it returns false).
func (l *Lock) pause(t time.Time) bool {
	l.mu.Lock()
	leaseEnd := l.leaseEnd
	l.mu.Unlock()
	if leaseEnd.Before(t) {
		t = leaseEnd
	}
	clk := l.m.node.Clock()
	timer := clk.NewTimer(t.Sub(clk.Now()))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.stop:
	case <-l.m.ctx.Done():
	}
	return false
}

// renewRound sends one renewal to the voters (or, Quorum(false), to
// the coordinator's table), within ctx and timeout, with the other
// renewals of this node that come within gather (0: alone, at once).
// ok: renewed. lost: the grant is gone (it expired, or was freed), so a
// newer grant may exist.
func (l *Lock) renewRound(ctx context.Context, timeout, gather time.Duration) (ok, lost bool) {
	m := l.m
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := leases.Cmd{Op: leases.OpRenew, Key: key(l.id), Holder: l.h.lease(), Token: l.token, TTL: l.ttl}
	var res leases.Result
	if gather > 0 {
		var err error
		if res, err = m.srv.renewals.renew(ctx, m.opt.quorum, l.coord, cmd, gather); err != nil {
			return false, false
		}
	} else {
		rs, err := m.srv.do(ctx, m.opt.quorum, l.coord, []leases.Cmd{cmd})
		if err != nil {
			return false, false
		}
		res = rs[0]
	}
	return res.OK, !res.OK
}

// end closes Done, frees the grant, wakes the coordinator and forgets
// the lock. The release and the wake go out together: the coordinator
// relays the release with the next waiter's claim, so a handover takes
// one round of the voters even when this release is slower.
func (l *Lock) end(expired bool) {
	m := l.m
	l.mu.Lock()
	l.endLocked(expired)
	lost := l.expired
	l.mu.Unlock()
	m.stats.held.Add(-1)
	if lost {
		m.stats.leaseLosses.Add(1)
	}
	defer close(l.released)
	m.forget(l)
	ctx, cancel := context.WithTimeout(context.Background(), max(l.ttl/4, minClaimWait))
	defer cancel()
	rel := releaseReq{ID: l.id, Token: l.token, Holder: l.h, Final: true}
	// The wake is a notification: it needs no answer, and Notify returns
	// once it is queued. A lost wake costs what a failed call did: the
	// coordinator's waiters find the grant gone by their own retries. It
	// goes beside the release, not before it: a dial to a coordinator
	// that is gone must not eat the release's time.
	// The coordinator on this node is woken at once, one on an open
	// connection with room too (NotifyNow never waits); only a wake that
	// might wait (a dial) goes aside.
	woken := make(chan struct{})
	switch {
	case l.coord == m.node.Name():
		m.srv.wake(rel)
		close(woken)
	case m.node.NotifyNow(l.coord, methodWake, wakeReq{ID: l.id, Release: rel}):
		close(woken)
	default:
		go func() {
			defer close(woken)
			m.node.Notify(ctx, l.coord, methodWake, wakeReq{ID: l.id, Release: rel})
		}()
	}
	m.srv.release(ctx, m.opt.quorum, l.coord, leases.Cmd{Op: leases.OpRelease, Key: key(l.id), Holder: l.h.lease(), Token: l.token})
	<-woken
}
