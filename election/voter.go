package election

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/pernode"
)

// A voter is the acceptor side of every group on one node: it grants
// claims, holds leases and answers surveys. One voter serves all groups
// of a node and lives while the node has at least one Elector, so a node
// votes in every group once it has made any Elector.
//
// A voter grants a term at most once and only above every term it has
// promised, and while it holds an unexpired grant it refuses every other
// candidate. Its state is in memory: see the package doc for what a
// restart means.
type voter struct {
	node *cluster.Node
	// quietUntil: a new voter grants no claim before this time. It may be
	// a restarted node that forgot the grants it held; waiting out one
	// hold period means every lease it might have backed has ended.
	quietUntil time.Time

	mu     sync.Mutex // protects groups
	groups map[string]*groupState
}

type groupState struct {
	promised  uint64     // highest term granted
	holder    *candidate // current grant, valid until expiry
	term      uint64     // the holder's term
	expiry    time.Time
	confirmed bool // the holder renewed: it won a majority
	// A higher-ranked candidate than the holder claimed recently; the
	// holder is told in its next heartbeat and steps down. Cleared when
	// a new lease (holder or term) is granted.
	preemptBy    candidate
	preemptUntil time.Time
	// A leader heard while this voter was quiet: not backed, but shown
	// by Leader and Follow until its heartbeats stop.
	heard       *candidate
	heardTerm   uint64
	heardExpiry time.Time
	local       map[candidate]struct{} // campaigning on this node
	changed     chan struct{}          // closed and replaced on every change
}

// voters holds each node's voter.
var voters pernode.Registry[*cluster.Node, *voter]

// acquireVoter returns the node's voter, registering its handlers on
// first use.
func acquireVoter(n *cluster.Node, ttl time.Duration) *voter {
	return voters.Acquire(n, func() *voter {
		v := &voter{node: n, groups: map[string]*groupState{}, quietUntil: time.Now().Add(holdFor(ttl))}
		cluster.HandleFunc(n, methodSurvey, func(_ context.Context, _ string, r surveyReq) (surveyResp, error) {
			return v.survey(r.Group), nil
		})
		cluster.HandleFunc(n, methodClaim, func(_ context.Context, _ string, r claimReq) (claimResp, error) {
			return v.claim(r, time.Now()), nil
		})
		cluster.HandleFunc(n, methodRenew, func(_ context.Context, _ string, r claimReq) (renewResp, error) {
			return v.renew(r, time.Now()), nil
		})
		cluster.HandleFunc(n, methodRelease, func(_ context.Context, _ string, r releaseReq) (struct{}, error) {
			v.release(r)
			return struct{}{}, nil
		})
		return v
	})
}

// releaseVoter drops a reference; the last one unregisters the handlers.
func releaseVoter(v *voter) {
	voters.Release(v.node, func(v *voter) {
		for _, m := range []string{methodSurvey, methodClaim, methodRenew, methodRelease} {
			v.node.Handle(m, nil)
		}
	})
}

// groupLocked returns the state of a group, creating it.
func (v *voter) groupLocked(name string) *groupState {
	g := v.groups[name]
	if g == nil {
		g = &groupState{local: map[candidate]struct{}{}, changed: make(chan struct{})}
		v.groups[name] = g
	}
	return g
}

func (g *groupState) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// liveLocked reports whether the grant is unexpired at now.
func (g *groupState) liveLocked(now time.Time) bool {
	return g.holder != nil && now.Before(g.expiry)
}

func (g *groupState) leaseLocked(now time.Time) *lease {
	if !g.liveLocked(now) {
		return nil
	}
	return &lease{Cand: *g.holder, Term: g.term, Remaining: g.expiry.Sub(now), Confirmed: g.confirmed}
}

func (v *voter) survey(group string) surveyResp {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(group)
	r := surveyResp{Promised: g.promised, Lease: g.leaseLocked(time.Now())}
	for c := range g.local {
		r.Candidates = append(r.Candidates, c)
	}
	return r
}

func (v *voter) claim(r claimReq, now time.Time) claimResp {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(r.Group)
	if g.liveLocked(now) && *g.holder != r.Cand {
		if !r.NoPreempt && compareRank(r.Cand, *g.holder) > 0 {
			g.preemptBy, g.preemptUntil = r.Cand, now.Add(holdFor(r.TTL))
		}
		return claimResp{Promised: g.promised, Lease: g.leaseLocked(now)}
	}
	if r.Term <= g.promised || now.Before(v.quietUntil) {
		return claimResp{Promised: g.promised}
	}
	g.grantLocked(r, now, false)
	return claimResp{Granted: true, Promised: g.promised}
}

// renew keeps a leader's grant alive. A voter that holds no live grant
// joins a lease whose term is not below its promise, so voters that
// missed the claim still learn the leader (unless it is still quiet).
func (v *voter) renew(r claimReq, now time.Time) renewResp {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(r.Group)
	same := g.liveLocked(now) && *g.holder == r.Cand && g.term == r.Term
	// Joining a lease is refused while quiet too: a restarted voter may
	// have granted a newer term that it forgot, and must not back an
	// older leader that has not yet noticed it was superseded.
	if !same && (r.Term < g.promised || g.liveLocked(now) || now.Before(v.quietUntil)) {
		if r.Term >= g.promised && !g.liveLocked(now) {
			g.hearLocked(r, now)
		}
		return renewResp{Promised: g.promised}
	}
	g.grantLocked(r, now, true)
	preempt := now.Before(g.preemptUntil) && compareRank(g.preemptBy, r.Cand) > 0
	return renewResp{OK: true, Promised: g.promised, Preempt: preempt}
}

func (g *groupState) grantLocked(r claimReq, now time.Time, confirmed bool) {
	newLease := g.holder == nil || *g.holder != r.Cand || g.term != r.Term
	changed := newLease || g.confirmed != confirmed
	if newLease {
		// A preemption asked the previous lease to end. A higher
		// candidate still waiting asks the new holder again within
		// a quarter TTL; a stale request must not depose it.
		g.preemptBy, g.preemptUntil = candidate{}, time.Time{}
	}
	c := r.Cand
	g.promised, g.holder, g.term = r.Term, &c, r.Term
	g.expiry = now.Add(holdFor(r.TTL))
	g.confirmed = confirmed
	if changed {
		g.notifyLocked()
	}
}

// hearLocked records a heartbeat this quiet voter did not back.
func (g *groupState) hearLocked(r claimReq, now time.Time) {
	changed := g.heard == nil || *g.heard != r.Cand || g.heardTerm != r.Term || !now.Before(g.heardExpiry)
	c := r.Cand
	g.heard, g.heardTerm, g.heardExpiry = &c, r.Term, now.Add(holdFor(r.TTL))
	if changed {
		g.notifyLocked()
	}
}

func (v *voter) release(r releaseReq) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(r.Group)
	if g.holder != nil && *g.holder == r.Cand && g.term == r.Term {
		g.holder, g.confirmed = nil, false
		g.notifyLocked()
	}
	if g.heard != nil && *g.heard == r.Cand && g.heardTerm == r.Term {
		g.heard = nil
		g.notifyLocked()
	}
}

// view returns the confirmed leader this voter knows of, when its grant
// expires, and the channel that closes on the next change.
func (v *voter) view(group string) (l Leader, ok bool, expiry time.Time, changed <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(group)
	now := time.Now()
	switch {
	case g.liveLocked(now) && g.confirmed:
		return Leader{ID: g.holder.ID, Node: g.holder.Node, Term: g.term}, true, g.expiry, g.changed
	case g.heard != nil && now.Before(g.heardExpiry) && g.heardTerm >= g.promised:
		return Leader{ID: g.heard.ID, Node: g.heard.Node, Term: g.heardTerm}, true, g.heardExpiry, g.changed
	}
	return l, ok, expiry, g.changed
}

// localState returns what a local candidate needs before campaigning: the
// live grant if any, the promised term and the change channel.
func (v *voter) localState(group string) (*lease, uint64, <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(group)
	return g.leaseLocked(time.Now()), g.promised, g.changed
}

func (v *voter) setCampaigning(group string, c candidate, on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g := v.groupLocked(group)
	if on {
		g.local[c] = struct{}{}
	} else {
		delete(g.local, c)
	}
}
