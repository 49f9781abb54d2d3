package election

import (
	"context"
	"github.com/gossipsync/gossipsync/cluster"
	"sync"
	"time"
)

// Elected is a won election: this candidate leads the group until
// Revoked closes. Safe for concurrent use.
type Elected struct {
	e    *Elector
	cand candidate

	mu       sync.Mutex // protects the fields below
	term     uint64
	leaseEnd time.Time     // the lease, measured on this node's clock
	revoked  chan struct{} // closed when the lease ends
	released chan struct{} // closed after revoked, once the voters were told
	stop     chan struct{} // closed to end the renew loop early
}

// ID returns the candidate id.
func (el *Elected) ID() string { return el.cand.ID }

// Term returns the term of the current (or last) lease: a fencing token.
func (el *Elected) Term() uint64 {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.term
}

// Revoked returns a channel that closes as soon as this candidate may no
// longer act as leader: its lease could not be renewed by a majority
// before it ran out (it is partitioned into a minority, or too many nodes
// are down), a higher-ranked candidate asked to take over, it resigned, or
// the Elector closed. It closes no later than the lease's end, before any
// other candidate can be granted the group. After Reelect it returns the
// new lease's channel.
func (el *Elected) Revoked() <-chan struct{} {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.revoked
}

// Resign gives up the lease at once: Revoked closes and the voters free
// the lease, so the next candidate can lead within about one round trip
// and an election round instead of waiting for the lease to run out.
// Resigning a lease that already ended does nothing. If ctx ends first,
// Resign returns ctx.Err() and the release goes on in the background.
func (el *Elected) Resign(ctx context.Context) error {
	el.mu.Lock()
	stop, released := el.stop, el.released
	select {
	case <-stop:
	default:
		close(stop)
	}
	el.mu.Unlock()
	select {
	case <-released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Reelect campaigns again as the same candidate after the lease ended,
// and blocks like Elect until it leads; Term and Revoked then describe the
// new lease. If the lease is still held it returns nil at once.
func (el *Elected) Reelect(ctx context.Context) error {
	select {
	case <-el.Revoked():
		return el.campaign(ctx)
	default:
		return nil
	}
}

// campaign runs the candidate loop until it wins a lease.
func (el *Elected) campaign(ctx context.Context) error {
	e := el.e
	e.v.setCampaigning(e.group, el.cand, true)
	term, start, err := e.campaign(ctx, el.cand)
	if err != nil {
		e.v.setCampaigning(e.group, el.cand, false)
		return err
	}
	el.mu.Lock()
	el.term, el.leaseEnd = term, start.Add(e.ttl)
	el.revoked, el.released, el.stop = make(chan struct{}), make(chan struct{}), make(chan struct{})
	el.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		close(el.revoked)
		close(el.released)
		return ErrClosed
	}
	e.leading[el] = struct{}{}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		el.keep()
	}()
	return nil
}

// keep renews the lease every quarter TTL until it cannot, then closes
// Revoked. The first renewal runs at once and confirms the new leader to
// every node.
func (el *Elected) keep() {
	e := el.e
	resigned := false
	defer func() { el.end(resigned) }()
	interval := e.ttl / 4
	for {
		el.mu.Lock()
		term, leaseEnd, stop := el.term, el.leaseEnd, el.stop
		el.mu.Unlock()
		start := time.Now()
		if !start.Before(leaseEnd) {
			return
		}
		ok, lost := el.renewRound(term, min(interval, leaseEnd.Sub(start)))
		if lost {
			return
		}
		if ok {
			el.mu.Lock()
			el.leaseEnd = start.Add(e.ttl)
			el.mu.Unlock()
		} else if len(e.node.Members()) < e.node.QuorumSize() {
			return // this node sees a minority: it cannot renew
		}
		t := time.NewTimer(time.Until(start.Add(interval)))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			resigned = true
			return
		case <-e.ctx.Done():
			t.Stop()
			return
		}
	}
}

// renewRound sends one heartbeat to every member. ok: a majority renewed.
// lost: a voter has promised a higher term, or a majority of voters have
// seen a higher-ranked candidate waiting, so this leader must step down.
// A higher candidate that only a minority hears (across a partition, or
// through a bridge node) could not win: yielding to it would only make
// leadership flap.
func (el *Elected) renewRound(term uint64, timeout time.Duration) (ok, lost bool) {
	e := el.e
	req := claimReq{Group: e.group, Term: term, Cand: el.cand, TTL: e.ttl}
	acks, preempts := 0, 0
	for _, r := range cluster.CallAll[renewResp](e.ctx, e.node, nil, methodRenew, req, timeout) {
		switch {
		case r.Err != nil:
		case r.Resp.Promised > term:
			lost = true
		case r.Resp.OK:
			acks++
			if r.Resp.Preempt {
				preempts++
			}
		}
	}
	quorum := e.node.QuorumSize()
	return acks >= quorum, lost || preempts >= quorum
}

// end closes Revoked, frees the voters' grants and forgets the lease.
//
// When the leader did not ask to stop (it was preempted, saw a higher
// term or could not renew), its goroutines learn of the end only when they
// next look at Revoked, a moment later. So it frees the grants only after
// a quarter lease, the margin by which voters outlast a lease everywhere
// else; otherwise the next leader could start while this one still acts.
// After Resign or Close the caller has stopped already: no wait.
func (el *Elected) end(resigned bool) {
	e := el.e
	el.mu.Lock()
	close(el.revoked)
	term, released := el.term, el.released
	el.mu.Unlock()
	defer close(released)
	e.v.setCampaigning(e.group, el.cand, false)
	e.mu.Lock()
	delete(e.leading, el)
	e.mu.Unlock()
	if !resigned {
		t := time.NewTimer(e.ttl / 4)
		select {
		case <-t.C:
		case <-e.ctx.Done():
		}
		t.Stop()
	}
	req := releaseReq{Group: e.group, Term: term, Cand: el.cand}
	cluster.CallAll[struct{}](context.Background(), e.node, nil, methodRelease, req, e.ttl/2)
}
