package election

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// Elected is a won election: this candidate leads the group while Valid
// reports true. Safe for concurrent use.
type Elected struct {
	e    *Elector
	cand candidate

	mu  sync.Mutex // protects cur and the mutable fields of every tenure
	cur *tenure    // the current (or last) lease
}

// tenure is one lease of an Elected, from the claim it won to its end.
// Its channels are made once; the other fields are guarded by Elected.mu.
// A new campaign (Reelect) makes a new tenure, so the goroutine that kept
// an old lease never touches the new one.
type tenure struct {
	term     uint64
	holder   leases.Holder // the campaign's holder at the voters
	end      time.Time     // leaseEnd: send time of the last renewal the voters applied + TTL, on this node's monotonic clock
	revoked  chan struct{} // closed by revokeLocked, once, when the lease ends
	released chan struct{} // closed after revoked, once the voters were told
	// ctx ends the renew loop and its round in flight: canceled by
	// giveUpLocked (Resign, Close), by the Elector's Close, and by end.
	ctx    context.Context
	cancel context.CancelFunc
	// lease is canceled with revoked (Elected.Context).
	lease       context.Context
	cancelLease context.CancelCauseFunc

	over, resigned bool // revoked; given up by Resign or Close
	// onRevoke runs when revoked closes (under the Elected's mu).
	onRevoke func()
}

func newTenure(parent context.Context, term uint64, end time.Time, h leases.Holder) *tenure {
	t := &tenure{term: term, holder: h, end: end, revoked: make(chan struct{}), released: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(parent)
	t.lease, t.cancelLease = context.WithCancelCause(context.Background())
	return t
}

// revokeLocked closes revoked; later calls do nothing.
func (t *tenure) revokeLocked() {
	if !t.over {
		t.over = true
		if t.onRevoke != nil {
			t.onRevoke()
		}
		close(t.revoked)
		t.cancelLease(ErrRevoked)
	}
}

// validLocked reports whether the lease is held at now; once it is not,
// it revokes it for good.
func (t *tenure) validLocked(now time.Time) bool {
	if !t.over && now.Before(t.end) {
		return true
	}
	t.revokeLocked()
	return false
}

// ID returns the candidate id.
func (el *Elected) ID() string { return el.cand.ID }

// Term returns the term of the current (or last) lease: a fencing token.
func (el *Elected) Term() uint64 {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.cur.term
}

// Valid reports whether this candidate still holds its lease, right now:
// Revoked has not closed and this node's monotonic clock has not reached
// the lease's end (TTL after the send time of the last heartbeat round a
// majority acknowledged). It does not wait for anything: it is right even
// when the process was frozen (GC, SIGSTOP, VM migration) and the renew
// loop has not run since. When it finds the lease over it closes Revoked
// before returning false, and the lease stays over: a heartbeat round in
// flight does not revive it. Call it right before each leader-only side
// effect, and fence the effect with Term (see the package doc).
func (el *Elected) Valid() bool {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.cur.validLocked(el.e.clk.Now())
}

// Revoked returns a channel that closes as soon as this candidate may no
// longer act as leader: its lease could not be renewed by a majority
// before it ran out (it is partitioned into a minority, or too many nodes
// are down), a higher-ranked candidate asked to take over, it resigned, or
// the Elector closed. It closes at the lease's end at the latest, before
// any other candidate can be granted the group, while the process runs;
// after a freeze it can close late (Valid cannot). Use it to stop leader
// work, and Valid to check before each side effect. After Reelect it
// returns the new lease's channel.
func (el *Elected) Revoked() <-chan struct{} {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.cur.revoked
}

// Context returns a context that is canceled when the current lease
// ends, as Revoked closes, so that leader work can be bounded by it
// without a select; context.Cause returns ErrRevoked. It has no deadline
// (heartbeats move the lease's end) and carries no values. Like Revoked
// it can come late after the process was frozen: ask Valid right before
// a side effect, and fence it with Term. After Reelect it returns the
// new lease's context.
func (el *Elected) Context() context.Context {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.cur.lease
}

// Resign gives up the lease at once: Revoked closes before Resign
// returns, and the voters free the lease, so the next candidate can lead
// within about one round trip and an election round instead of waiting
// for the lease to run out. Resign waits until the voters were told, or
// ctx is done (then it returns ctx.Err() by ctx's deadline and the release
// goes on in the background, bounded, until the Elector's Close).
// Resigning a lease that already ended gives it up nonetheless and waits
// the same way.
func (el *Elected) Resign(ctx context.Context) error {
	released := el.giveUp()
	select {
	case <-released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// giveUp revokes the current lease and stops its renew loop without
// waiting; it returns the channel that closes once the voters were told.
func (el *Elected) giveUp() <-chan struct{} {
	el.mu.Lock()
	defer el.mu.Unlock()
	el.cur.giveUpLocked()
	return el.cur.released
}

// giveUpLocked revokes the lease and stops its renew loop.
func (t *tenure) giveUpLocked() {
	t.revokeLocked()
	t.resigned = true
	t.cancel()
}

// Reelect campaigns again as the same candidate after the lease ended,
// and blocks like Elect until it leads; Term, Valid and Revoked then
// describe the new lease. If the lease is still valid it returns nil at
// once. Like Elect it returns by ctx's deadline. Do not call it
// concurrently with itself on one Elected.
func (el *Elected) Reelect(ctx context.Context) error {
	if el.Valid() {
		return nil
	}
	return el.campaign(ctx)
}

// campaign runs the candidate loop until it wins a lease that is still
// valid when it is installed, ctx is done or the Elector closes.
func (el *Elected) campaign(ctx context.Context) error {
	e := el.e
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.ctx, cancel)() // Close ends the rounds in flight too
	for {
		h := el.cand.holder(e.handles.Add(1))
		term, start, err := e.campaign(ctx, el.cand, h)
		if err != nil {
			return err
		}
		e.hook(hookWon)
		ok, err := el.install(term, start, h)
		if ok {
			e.announce(el.cand.ID, term, false)
		}
		if ok || err != nil {
			return err
		}
		// The process froze between winning the claim and here, and
		// the lease ran out before anyone could use it. Nobody acted on
		// this term: free its grant and try again.
		e.goCleanup(func() { e.release(h, term, e.ttl/4) })
	}
}

// install makes the won term the current lease and starts renewing it,
// unless the lease has run out already (false, nil) or the Elector has
// closed (ErrClosed).
func (el *Elected) install(term uint64, start time.Time, h leases.Holder) (bool, error) {
	e := el.e
	e.mu.Lock()
	defer e.mu.Unlock()
	end := start.Add(e.ttl)
	if e.closed {
		t := newTenure(e.ctx, term, end, h)
		t.giveUpLocked()
		close(t.released)
		el.mu.Lock()
		el.cur = t
		el.mu.Unlock()
		return false, ErrClosed
	}
	if !e.clk.Now().Before(end) {
		return false, nil
	}
	t := newTenure(e.ctx, term, end, h)
	t.onRevoke = func() {
		now := e.clk.Now()
		e.ledUntil.Store(&now)
	}
	el.mu.Lock()
	el.cur = t
	el.mu.Unlock()
	e.leading[t] = el
	e.stats.wins.Add(1)
	e.stats.leading.Add(1)
	storeMax(&e.w.term, term)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		el.keep(t)
	}()
	return true, nil
}
