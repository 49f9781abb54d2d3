package election

import (
	"context"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// campaign runs one candidate's election loop until it wins a term (then
// it returns the term and when its lease started), ctx is done, or the
// Elector closes.
//
// Each round claims the group's key at the voters. A free key is
// granted: the term is the grant's token. A key held by another
// candidate is refused, with how long the voters hold it at most; the
// campaign waits that long (or until an announcement changes the known
// leader) and claims again. A claim that outranks the holder (bully
// order) asks it to step down, at most once per quarter TTL.
func (e *Elector) campaign(ctx context.Context, c candidate, h leases.Holder) (term uint64, start time.Time, err error) {
	noQuorum := false
	var lastPreempt, announced, deferSince time.Time
	var deferTo candidate
	defer func() {
		if err != nil {
			e.announceCampaign(c, 0, true)
		}
	}()
	// Let the other candidates' announcements arrive first, so that a
	// candidate that started at the same moment as a higher one does not
	// win a term only to be preempted: for settle, less what this
	// Elector listened before, when it just led. A leader that resigns
	// and campaigns again knows every candidate that campaigns, and must
	// not make the lower ones, which defer to it, wait for nothing; but
	// Electors that start to campaign at the same moment, however long
	// they were made, have not heard each other yet.
	settle := min(e.ttl/4, campaignSettle)
	if e.justLed() {
		settle = max(settle-e.clk.Now().Sub(e.made), 0)
	}
	for {
		if err := e.check(ctx); err != nil {
			if noQuorum && err != ErrClosed {
				err = fmt.Errorf("%w (%w)", ErrNoQuorum, err)
			}
			return 0, time.Time{}, err
		}
		leader, _, changed := e.w.view()
		now := e.clk.Now()
		// Announce every half TTL, times one plus the number of higher
		// candidates heard: every candidate stays known, and the
		// gossip of a cluster where every node campaigns grows with
		// the log of their number, not with the number.
		o, oUntil, above := e.w.higher(c, now)
		if every := e.ttl / 2 * time.Duration(1+above); now.Sub(announced) >= every {
			announced = now
			e.announceCampaign(c, every, false)
			if settle > 0 {
				e.wait(ctx, nil, settle)
				settle = 0
				continue
			}
		}
		if above > 0 {
			// Bully order: let the higher candidate win, unless it has
			// not managed to for a while (it may not reach the voters
			// that this node reaches). The while counts from the moment
			// the group had no leader: while one leads, the higher
			// candidate had no chance to win, and when that leader
			// dies every lower candidate must still let it win first
			// (else the lowest wins the race for the free key and each
			// higher one preempts the last in turn, a cascade that
			// costs the group a handover each).
			if o != deferTo || leader.ID != "" {
				deferTo, deferSince = o, now
			}
			if giveUp := deferSince.Add(3 * e.ttl); now.Before(giveUp) {
				// Wake when o's campaign expires unannounced (it
				// crashed), or the while is up, if that is sooner than
				// the next look: an announcement, o's end or its
				// node's failure close changed before.
				wake := min(jitter(e.ttl/2), oUntil.Sub(now), giveUp.Sub(now))
				e.wait(ctx, changed, wake)
				continue
			}
		}
		start = e.clk.Now()
		preempt := !e.noPreempt && start.Sub(lastPreempt) >= e.ttl/4
		r, err := e.do(ctx, e.ttl/4, leases.Cmd{Op: leases.OpClaim, Key: key(e.group), Holder: h, TTL: e.ttl, Preempt: preempt})
		noQuorum = err != nil
		switch {
		case err == nil && r.OK:
			return r.Token, start, nil
		case err == nil && r.Holder != nil:
			if preempt && leases.CompareRank(h, *r.Holder) > 0 {
				lastPreempt = start
			}
			e.wait(ctx, changed, min(r.Remaining, e.ttl/2))
		case err == nil: // the group is being founded
			e.wait(ctx, nil, min(quietRetry, e.ttl/4))
		default:
			e.wait(ctx, nil, jitter(e.ttl/4))
		}
	}
}

// campaignSettle is how long a new campaign listens for the others'
// announcements before its first claim (at most a quarter TTL).
const campaignSettle = 200 * time.Millisecond

// quietRetry is how often a claim is made again while the voter group
// is being founded.
const quietRetry = 20 * time.Millisecond

// minCallWait is the least time a call waits for the voters: a few Raft
// election timeouts, so that a call made during a leader change is not
// given up before the new leader could answer.
const minCallWait = 500 * time.Millisecond

// do applies one command at the voters, waiting at most timeout (and at
// least minCallWait) within ctx.
func (e *Elector) do(ctx context.Context, timeout time.Duration, c leases.Cmd) (leases.Result, error) {
	return e.doWithin(ctx, max(timeout, minCallWait), c)
}

// doWithin applies one command at the voters, waiting at most timeout:
// a renewal must give up by its lease's end, so that Revoked closes on
// time.
func (e *Elector) doWithin(ctx context.Context, timeout time.Duration, c leases.Cmd) (leases.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := e.svc.Do(ctx, []leases.Cmd{c})
	if err != nil {
		return leases.Result{}, err
	}
	return res[0], nil
}

// release frees the grant of h with term at the voters, waiting at most
// timeout, whatever becomes of the caller's context: it is clean-up. It
// reports whether the voters applied it.
func (e *Elector) release(h leases.Holder, term uint64, timeout time.Duration) bool {
	_, err := e.do(context.Background(), timeout, leases.Cmd{Op: leases.OpRelease, Key: key(e.group), Holder: h, Token: term})
	return err == nil
}

// justLed reports whether this Elector's last tenure ended within a
// TTL.
func (e *Elector) justLed() bool {
	t := e.ledUntil.Load()
	return t != nil && e.clk.Now().Sub(*t) < e.ttl
}
