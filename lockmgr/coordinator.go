package lockmgr

import (
	"context"
	"github.com/gossipsync/gossipsync/cluster"
	"math/rand/v2"
	"slices"
	"time"
)

// idQueue is a coordinator's state for one id: its FIFO of waiters, of
// which only the head is served, and the last token it used.
type idQueue struct {
	waiters []*waiter
	last    uint64
	changed chan struct{} // closed and replaced on a change or a wake
	// held: the grant this coordinator made last, until its holder's
	// release arrives or it may have expired. The head does not claim
	// against it (the claim would fail) but waits for the release.
	held *heldGrant
	// freed: the last final release a holder sent here, relayed with the
	// next claim so that every acceptor frees the grant first.
	freed *releaseReq
}

type heldGrant struct {
	holder holder
	token  uint64
	until  time.Time // the grant may be live at an acceptor until then
}

type waiter struct {
	try    bool
	holder holder
	cancel context.CancelFunc // ends the waiter: its caller gave up
}

// acquire serves one waiter: it queues, waits to reach the head, then
// runs claim rounds until it wins a majority, the caller's ctx ends, or
// (TryAcquire) the id is held.
func (s *server) acquire(ctx context.Context, _ string, req acquireReq) (acquireResp, error) {
	begin := time.Now()
	if req.Quorum && !hasQuorum(s.node) {
		return acquireResp{}, ErrNoQuorum
	}
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(s.ctx, cancel)()
	defer cancel()
	w := &waiter{try: req.Try, holder: req.Holder, cancel: cancel}
	if err := s.enqueue(req.ID, w); err != nil {
		return acquireResp{}, err
	}
	defer s.dequeue(req.ID, w)
	if err := s.waitHead(ctx, req.ID, w); err != nil {
		return acquireResp{}, err
	}
	return s.serve(ctx, req, begin)
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
// been applied by a majority and is dropped.
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

// nextToken returns the token for the next claim, the release to relay
// with it, and the channel that closes on the next wake.
func (s *server) nextToken(id string) (uint64, *releaseReq, <-chan struct{}) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	q.last++
	return q.last, q.freed, q.changed
}

// observe folds a round's result into the token cache. A token that no
// acceptor granted is used again (it is still above every promise
// seen), so waiting on a held id does not inflate tokens.
func (s *server) observe(id string, token uint64, r roundResult) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queueLocked(id)
	if r.granted == 0 && q.last == token && r.promised < token {
		q.last--
	}
	q.last = max(q.last, r.promised)
}

// serve runs claim rounds for the head waiter.
func (s *server) serve(ctx context.Context, req acquireReq, begin time.Time) (acquireResp, error) {
	lows := 0
	var heldSince time.Time // when the head began to wait for a held grant
	for {
		if req.Quorum && !hasQuorum(s.node) {
			return acquireResp{}, ErrNoQuorum
		}
		// The last grant made here is held: wait for its release (a
		// claim now would fail), but at most TTL/4 in all, after which
		// the acceptors' answers rule as usual.
		now := time.Now()
		if left, changed := s.heldLeft(req.ID, now); left > 0 && !req.Try {
			if heldSince.IsZero() {
				heldSince = now
			}
			if wait := min(left, heldSince.Add(req.TTL/4).Sub(now)); wait > 0 {
				if err := sleep(ctx, changed, wait); err != nil {
					return acquireResp{}, err
				}
				continue
			}
		}
		token, free, changed := s.nextToken(req.ID)
		start := time.Now()
		r := s.claimRound(req, token, free)
		s.observe(req.ID, token, r)
		if r.won {
			if ctx.Err() != nil { // the caller gave up: free it at once
				s.releaseToken(req, token)
				return acquireResp{}, ctx.Err()
			}
			s.won(req, token, start)
			return acquireResp{Token: token, Waited: start.Sub(begin)}, nil
		}
		var wait time.Duration
		switch {
		case r.blocked > 0:
			if req.Try {
				return acquireResp{}, ErrLocked
			}
			wait = min(r.blocked, req.TTL/4)
		case r.quiet > 0:
			wait = min(r.quiet, req.TTL/4)
		case r.promised >= token && lows < 3:
			lows++ // refused for a low token: retry above the promise
			continue
		default:
			if req.Try {
				return acquireResp{}, ErrNoQuorum
			}
			lows, wait = 0, jitter(req.TTL/4)
		}
		if err := sleep(ctx, changed, wait); err != nil {
			return acquireResp{}, err
		}
	}
}

type roundResult struct {
	won      bool
	granted  int
	promised uint64        // highest promise seen
	blocked  time.Duration // longest live grant of another holder seen
	quiet    time.Duration // longest quiet period seen
}

// claimRound asks the id's acceptors to grant token, relaying free (the
// previous holder's final release, if any). With fewer grants than a
// majority it frees those it got, so partial grants block nobody.
func (s *server) claimRound(req acquireReq, token uint64, free *releaseReq) roundResult {
	targets, need := acceptors(s.node, req.ID, req.Quorum, req.Replicas)
	creq := claimReq{ID: req.ID, Token: token, Holder: req.Holder, TTL: req.TTL, Free: free}
	// A majority of grants wins: the slower acceptors are not waited for.
	won := func(reps []cluster.Reply[claimResp]) bool {
		n := 0
		for _, rep := range reps {
			if rep.Err == nil && rep.Resp.Granted {
				n++
			}
		}
		return n >= need
	}
	var r roundResult
	for _, rep := range cluster.CallUntil(s.ctx, s.node, targets, methodClaim, creq, req.TTL/4, won) {
		if rep.Err != nil {
			continue
		}
		if rep.Resp.Granted {
			r.granted++
		}
		r.promised = max(r.promised, rep.Resp.Promised)
		r.blocked = max(r.blocked, rep.Resp.Blocked)
		r.quiet = max(r.quiet, rep.Resp.Quiet)
	}
	if r.won = r.granted >= need; !r.won {
		s.releaseToken(req, token)
	}
	return r
}

func (s *server) releaseToken(req acquireReq, token uint64) {
	rel := releaseReq{ID: req.ID, Token: token, Holder: req.Holder}
	cluster.CallAll[struct{}](context.Background(), s.node, nil, methodRelease, rel, req.TTL/4)
}

// sleep waits for d, a close of changed, or the end of ctx.
func sleep(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
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
