package lockmgr

import (
	"context"
	"fmt"
	"github.com/gossipsync/gossipsync/cluster"
	"sync"
	"time"
)

// Lock is a held lock: a lease on an id with a fencing token. It is held
// until Done closes. Safe for concurrent use.
type Lock struct {
	m         *Manager
	id        string
	h         holder
	coord     string // the coordinator that granted it, woken on release
	token     uint64
	ttl       time.Duration
	grantedAt time.Time

	mu       sync.Mutex // protects leaseEnd and expired
	leaseEnd time.Time  // on this node's clock
	expired  bool       // Done closed without a Release

	done     chan struct{} // closed when the lease ends
	stop     chan struct{} // closed by Release
	stopOnce sync.Once
	released chan struct{} // closed once the acceptors were told
}

// ID returns the lock's id.
func (l *Lock) ID() string { return l.id }

// Token returns the fencing token: unique per id, and greater than the
// token of every grant of the id that ended before this one was made.
// Pass it to the guarded resource (see Fence).
func (l *Lock) Token() uint64 { return l.token }

// GrantedAt returns the cluster time of the grant, if the Manager has a
// clock (WithClock) that was synced then; else the zero time.
func (l *Lock) GrantedAt() time.Time { return l.grantedAt }

// Done returns a channel that closes when the lock may no longer be
// used: it was released, or its lease could not be renewed by a majority
// before it ran out (then it closes before any acceptor frees the id),
// or an acceptor reported a newer grant.
func (l *Lock) Done() <-chan struct{} { return l.done }

// Release stops renewing the lease, frees the id at the acceptors and
// wakes the next waiter. It returns ErrNotHeld ("lease expired") if Done
// had already closed, ErrNotHeld if released before. If ctx ends first,
// it returns ctx.Err() and the release goes on in the background.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	expired := l.expired
	l.mu.Unlock()
	if expired {
		return fmt.Errorf("lockmgr: release %q: %w: lease expired", l.id, ErrNotHeld)
	}
	first := false
	l.stopOnce.Do(func() { first = true; close(l.stop) })
	if !first {
		return fmt.Errorf("lockmgr: release %q: %w: already released", l.id, ErrNotHeld)
	}
	select {
	case <-l.released:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.expired {
			return fmt.Errorf("lockmgr: release %q: %w: lease expired", l.id, ErrNotHeld)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Lock) stopRenewing() { l.stopOnce.Do(func() { close(l.stop) }) }

// keep renews the lease every third of the TTL until it cannot, then
// ends it. The first renewal runs at once.
func (l *Lock) keep() {
	m := l.m
	expired := true
	defer func() { l.end(expired) }()
	interval := l.ttl / 3
	// The grant itself was a majority's acknowledgement: the first
	// renewal is due a third of a TTL later, not at once.
	if !l.pause(time.Now().Add(interval)) {
		expired = false
		return
	}
	for {
		l.mu.Lock()
		leaseEnd := l.leaseEnd
		l.mu.Unlock()
		start := time.Now()
		if !start.Before(leaseEnd) {
			return
		}
		ok, lost := l.renewRound(min(interval, leaseEnd.Sub(start)))
		if lost {
			return
		}
		if ok {
			leaseEnd = start.Add(l.ttl)
			l.mu.Lock()
			l.leaseEnd = leaseEnd
			l.mu.Unlock()
		} else if m.opt.quorum && !hasQuorum(m.node) {
			return // this node sees a minority: it cannot renew
		}
		next := start.Add(interval)
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
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.stop:
	case <-l.m.ctx.Done():
	}
	return false
}

// renewRound sends one renewal to the id's acceptors. ok: a majority
// renewed. lost: short of a majority while an acceptor promised a newer
// token, so a newer grant may exist.
func (l *Lock) renewRound(timeout time.Duration) (ok, lost bool) {
	m := l.m
	targets, need := acceptors(m.node, l.id, m.opt.quorum, m.opt.replicas)
	req := claimReq{ID: l.id, Token: l.token, Holder: l.h, TTL: l.ttl}
	acks, newer := 0, false
	for _, r := range cluster.CallAll[claimResp](m.ctx, m.node, targets, methodRenew, req, timeout) {
		switch {
		case r.Err != nil:
		case r.Resp.Granted:
			acks++
		case r.Resp.Promised > l.token:
			newer = true
		}
	}
	return acks >= need, acks < need && newer
}

// end closes Done, frees the acceptors' grants, wakes the coordinator and
// forgets the lock.
func (l *Lock) end(expired bool) {
	m := l.m
	l.mu.Lock()
	l.expired = expired
	l.mu.Unlock()
	close(l.done)
	defer close(l.released)
	m.forget(l)
	rel := releaseReq{ID: l.id, Token: l.token, Holder: l.h, Final: true}
	for _, r := range cluster.CallAll[struct{}](context.Background(), m.node, nil, methodRelease, rel, l.ttl/4) {
		if r.Node == l.coord && r.Err == nil {
			return // the coordinator's acceptor got it, and woke the next waiter
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	m.node.Call(ctx, l.coord, methodWake, wakeReq{ID: l.id, Release: rel}, nil)
}
