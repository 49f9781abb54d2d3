package lockmgr

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
)

// idQueue is a coordinator's state for one id: its FIFO of waiters, of
// which only the head is served.
type idQueue struct {
	waiters []*waiter
	changed chan struct{} // closed and replaced on a change or a wake
	// held: the grant this coordinator made last, until its holder's
	// release arrives or it may have expired. The head does not claim
	// against it (the claim would fail) but waits for the release.
	held *heldGrant
	// freed: the last final release a holder sent here, relayed with the
	// next claim so that the voters free the grant first.
	freed *releaseReq
}

type heldGrant struct {
	holder holder
	token  uint64
	until  time.Time // the grant may be live at the voters until then
}

type waiter struct {
	try    bool
	holder holder
	cancel context.CancelFunc // ends the waiter: its caller gave up
}

// acquire serves one waiter: it queues, waits to reach the head, then
// runs claim rounds until it wins a majority, the caller's ctx ends, or
// (TryAcquire) the id is held.
func (s *server) acquire(ctx context.Context, from string, req acquireReq) (acquireResp, error) {
	if !s.admit(from) {
		return acquireResp{}, errBusy
	}
	defer s.leave(from)
	begin := s.node.Clock().Now()
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(s.ctx, cancel)()
	defer cancel()
	w := &waiter{try: req.Try, holder: req.Holder, cancel: cancel}
	if err := s.enqueue(req.ID, w); err != nil {
		return acquireResp{}, err
	}
	defer s.dequeue(req.ID, w)
	err := s.waitHead(ctx, req.ID, w)
	var resp acquireResp
	if err == nil {
		resp, err = s.serve(ctx, req, begin)
	}
	if err != nil && s.ctx.Err() != nil {
		// This node's last Manager closed (it is leaving): the caller
		// asks the next coordinator (see retryable).
		return acquireResp{}, ErrClosed
	}
	return resp, err
}

func (s *server) queueLocked(id string) *idQueue {
	q := s.queues[id]
	if q == nil {
		q = &idQueue{changed: make(chan struct{})}
		s.queues[id] = q
	}
	return q
}

func (q *idQueue) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (s *server) enqueue(id string, w *waiter) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	if w.try && len(q.waiters) > 0 {
		return ErrLocked
	}
	q.waiters = append(q.waiters, w)
	return nil
}

func (s *server) dequeue(id string, w *waiter) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	if i := slices.Index(q.waiters, w); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
		q.notifyLocked()
	}
	s.forgetLocked(id, q)
}

// forgetLocked drops the queue of id when nothing in it matters any
// more: no waiter, and no grant of its own that may still be held. So
// the coordinator keeps state only for ids in use, not for every id
// ever locked.
func (s *server) forgetLocked(id string, q *idQueue) {
	if len(q.waiters) == 0 && (q.held == nil || !s.node.Clock().Now().Before(q.held.until)) {
		delete(s.queues, id)
	}
}

// cancel ends the waiter of holder on id, if queued here. The cluster
// does not end a handler when its caller gives up, so the caller says so.
func (s *server) cancelWaiter(id string, h holder) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if q := s.queues[id]; q != nil {
		for _, w := range q.waiters {
			if w.holder == h {
				w.cancel()
			}
		}
	}
}

// wake tells the head waiter of r.ID to claim now: the holder released.
// r is its final release, kept to be relayed with the next claim, or (not
// Final) a bare wake that names no release. Ids never queued here are
// ignored.
func (s *server) wake(r releaseReq) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queues[r.ID]
	if q == nil {
		return
	}
	if h := q.held; h != nil && (!r.Final || h.holder == r.Holder && (r.Token == 0 || r.Token == h.token)) {
		q.held = nil
	}
	if r.Final && (q.freed == nil || r.Token == 0 || r.Token >= q.freed.Token) {
		q.freed = &r
	}
	q.notifyLocked()
	s.forgetLocked(r.ID, q)
}

// heldLeft returns how long the grant this coordinator made last may
// still be held (0: released, expired or none), and the channel that
// closes on the next change or wake.
func (s *server) heldLeft(id string, now time.Time) (time.Duration, <-chan struct{}) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	if q.held == nil || !now.Before(q.held.until) {
		return 0, q.changed
	}
	return q.held.until.Sub(now), q.changed
}

// won records a grant this coordinator made; the release it relayed has
// been applied by the voters and is dropped.
func (s *server) won(req acquireReq, token uint64, now time.Time) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(req.ID)
	q.held = &heldGrant{holder: req.Holder, token: token, until: now.Add(holdFor(req.TTL))}
	q.freed = nil
}

func (s *server) waitHead(ctx context.Context, id string, w *waiter) error {
	for {
		s.qmu.Lock()
		q := s.queueLocked(id)
		head, changed := q.waiters[0] == w, q.changed
		s.qmu.Unlock()
		if head {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// freedRelease returns the release to relay with the next claim, and
// the channel that closes on the next wake.
func (s *server) freedRelease(id string) (*releaseReq, <-chan struct{}) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	return q.freed, q.changed
}

// serve runs claims for the head waiter until one wins, the caller's ctx
// ends, or (TryAcquire) the id is held or the voters cannot be reached.
func (s *server) serve(ctx context.Context, req acquireReq, begin time.Time) (acquireResp, error) {
	var heldSince time.Time    // when the head began to wait for a held grant
	var failingSince time.Time // when claims began to go unanswered
	for {
		// The last grant made here is held: wait for its release (a
		// claim now would fail), but at most TTL/4 in all, after which
		// the voters' answer rules as usual.
		now := s.node.Clock().Now()
		if left, changed := s.heldLeft(req.ID, now); left > 0 && !req.Try {
			if heldSince.IsZero() {
				heldSince = now
			}
			if wait := min(left, heldSince.Add(req.TTL/4).Sub(now)); wait > 0 {
				if err := sleep(ctx, s.node.Clock(), changed, wait); err != nil {
					return acquireResp{}, err
				}
				continue
			}
		}
		free, changed := s.freedRelease(req.ID)
		start := s.node.Clock().Now()
		r, err := s.claim(req, free)
		switch {
		case err == nil && r.OK:
			if ctx.Err() != nil { // the caller gave up: free it at once
				s.releaseGrant(req, r.Token)
				return acquireResp{}, ctx.Err()
			}
			s.won(req, r.Token, start)
			return acquireResp{Token: r.Token, Waited: start.Sub(begin)}, nil
		case ctx.Err() != nil:
			return acquireResp{}, ctx.Err()
		case req.Try && err == nil && r.Holder != nil:
			return acquireResp{}, ErrLocked
		case err != nil && (req.Try || !failingSince.IsZero() && s.node.Clock().Now().Sub(failingSince) >= noQuorumAfter(req.TTL)):
			return acquireResp{}, ErrNoQuorum
		case err != nil && failingSince.IsZero():
			failingSince = start
		case err == nil:
			failingSince = time.Time{}
		}
		// Held by another (wait until its hold ends or its release
		// wakes us), the group is founding or quiet, or the voters
		// did not answer in time: claim again.
		wait := jitter(req.TTL / 4)
		if err == nil && r.Holder != nil {
			wait = min(max(r.Remaining, time.Millisecond), req.TTL/4)
		} else if err == nil {
			wait = min(quietRetry, req.TTL/4)
		}
		if err := sleep(ctx, s.node.Clock(), changed, wait); err != nil {
			return acquireResp{}, err
		}
	}
}

// noQuorumAfter is how long claims for a lease of ttl may go
// unanswered by the voters before the coordinator gives up with
// ErrNoQuorum: a TTL, and at least a few Raft elections.
func noQuorumAfter(ttl time.Duration) time.Duration { return max(ttl, 2*time.Second) }

// quietRetry is how often a claim is made again while the voter group
// is being founded.
const quietRetry = 20 * time.Millisecond

// claim asks for a grant of req.ID to req.Holder, relaying free (the
// previous holder's final release, if any), within TTL/4 of trying.
//
// The claim does not end with the waiter's ctx: once sent, it runs until
// the voters answer (or its own timeout), so that serve learns whether
// it won and frees a grant won for a caller that gave up meanwhile. Were
// it cut short, its outcome would be unknown: the caller's own clean-up
// (a release by holder) travels another path and can reach the voters'
// log before the claim does, which then wins after it, and the id would
// stay blocked until the grant expires (1.25 TTL).
func (s *server) claim(req acquireReq, free *releaseReq) (leases.Result, error) {
	c := leases.Cmd{Op: leases.OpClaim, Key: key(req.ID), Holder: req.Holder.lease(), TTL: req.TTL}
	if free != nil {
		c.Free = &leases.Cmd{Op: leases.OpRelease, Key: key(req.ID), Holder: free.Holder.lease(), Token: free.Token}
	}
	cctx, cancel := context.WithTimeout(s.ctx, max(req.TTL/4, minClaimWait))
	defer cancel()
	res, err := s.do(cctx, req.Quorum, s.node.Name(), []leases.Cmd{c})
	if err != nil {
		return leases.Result{}, err
	}
	return res[0], nil
}

// minClaimWait is the least time a claim waits for the voters: a few
// Raft election timeouts, so that a claim made during a leader change
// is not given up before the new leader could answer.
const minClaimWait = 500 * time.Millisecond

// releaseGrant frees a grant won for a caller that gave up.
func (s *server) releaseGrant(req acquireReq, token uint64) {
	ctx, cancel := context.WithTimeout(s.ctx, max(req.TTL/4, minClaimWait))
	defer cancel()
	s.do(ctx, req.Quorum, s.node.Name(), []leases.Cmd{{Op: leases.OpRelease, Key: key(req.ID), Holder: req.Holder.lease(), Token: token}})
}

// sleep waits for d on clk, a close of changed, or the end of ctx.
func sleep(ctx context.Context, clk cluster.Clock, changed <-chan struct{}, d time.Duration) error {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// jitter returns a random duration in [d/2, d).
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
