package election

import (
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// keep renews the lease t every quarter TTL until it cannot, then ends
// it. The first renewal runs at once and confirms the new leader to every
// node. Between rounds it wakes at the lease's end at the latest, so that
// Revoked closes by then even when the rounds fail.
func (el *Elected) keep(t *tenure) {
	e := el.e
	defer el.end(t)
	interval := e.ttl / 4
	announced := e.clk.Now() // install announced the win
	for {
		start := e.clk.Now()
		el.mu.Lock()
		live, leaseEnd := t.validLocked(start), t.end
		el.mu.Unlock()
		if !live {
			return
		}
		ok, lost := el.renewRound(t, min(interval, leaseEnd.Sub(start)))
		if lost {
			return
		}
		if ok {
			e.hook(hookRenewed)
			if !el.extend(t, start) {
				return
			}
			if start.Sub(announced) >= e.ttl/2 {
				announced = start
				e.announce(el.cand.ID, t.term, false)
			}
		}
		if !el.sleep(t, start.Add(interval)) {
			return
		}
	}
}

// extend moves the end of lease t to TTL after start, the send time of a
// round a majority acknowledged, unless the lease ran out meanwhile: a
// lease that was over, even for a moment, stays over (Valid may have
// reported it, and its holder stopped).
func (el *Elected) extend(t *tenure, start time.Time) bool {
	el.mu.Lock()
	defer el.mu.Unlock()
	if !t.validLocked(el.e.clk.Now()) {
		return false
	}
	t.end = start.Add(el.e.ttl)
	return true
}

// sleep waits until next or the end of lease t, whichever is first. It
// reports false if the lease was revoked or given up, or the Elector
// closed, meanwhile.
func (el *Elected) sleep(t *tenure, next time.Time) bool {
	el.mu.Lock()
	if t.end.Before(next) {
		next = t.end
	}
	el.mu.Unlock()
	timer := el.e.clk.NewTimer(next.Sub(el.e.clk.Now()))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-t.revoked:
	case <-t.ctx.Done():
	}
	return false
}

// renewRound sends one heartbeat to the voters. ok: renewed. lost: the
// grant is gone (it expired or was freed), or a higher-ranked candidate
// asked this leader to step down.
func (el *Elected) renewRound(t *tenure, timeout time.Duration) (ok, lost bool) {
	e := el.e
	r, err := e.doWithin(t.ctx, timeout, leases.Cmd{Op: leases.OpRenew, Key: key(e.group), Holder: t.holder, Token: t.term, TTL: e.ttl})
	if err != nil {
		return false, false
	}
	if r.Preempt {
		e.node.Logger().Debug("leadership preempted by a higher candidate", "group", e.group, "term", t.term)
	}
	return r.OK, !r.OK || r.Preempt
}

// end closes Revoked (if Valid or Resign did not already), frees the
// voters' grants and forgets the lease.
//
// When the leader did not ask to stop (it was preempted, saw a higher
// term or could not renew), its goroutines learn of the end only when they
// next look at Revoked or Valid, a moment later. So it frees the grants
// only after a quarter lease, the margin by which voters outlast a lease
// everywhere else; otherwise the next leader could start while this one
// still acts. After Resign or Close the caller has stopped already: no
// wait, and the end is announced once the grant is freed (a moment
// later), so that a candidate that hears it and claims is not refused
// by a grant still held and left waiting for a notice it may not get
// (the leader tells only the candidates it heard campaigning).
func (el *Elected) end(t *tenure) {
	e := el.e
	el.mu.Lock()
	t.revokeLocked()
	resigned := t.resigned
	el.mu.Unlock()
	e.node.Logger().Debug("leadership ended", "group", e.group, "term", t.term, "resigned", resigned)
	if !resigned {
		e.announce(el.cand.ID, t.term, true)
	}
	t.cancel()
	defer close(t.released)
	e.mu.Lock()
	delete(e.leading, t)
	e.mu.Unlock()
	e.stats.leading.Add(-1)
	if !resigned {
		e.stats.leaseLosses.Add(1)
		timer := e.clk.NewTimer(e.ttl / 4)
		select {
		case <-timer.C:
		case <-e.ctx.Done():
		}
		timer.Stop()
	}
	released := e.release(t.holder, t.term, e.ttl/2)
	if resigned {
		e.announce(el.cand.ID, t.term, true)
	}
	if released {
		e.tellReleased(el.cand.ID, t.term)
	}
}
