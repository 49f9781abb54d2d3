package clock

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/internal/hlc"
	"github.com/gossipsync/gossipsync/internal/timesync"
)

type sampleReq struct{}

// sampleResp is the reference's half of an exchange.
type sampleResp struct {
	T2, T3    time.Time     // cluster time when the request arrived and the reply left
	Term      uint64        // the reference's term: a new value means a new reference
	Inherited time.Duration // how far its time may lie from its predecessor's
	Reset     bool          // it started a new timeline: it had no bound at takeover
}

func (c *Clock) serveSample(_ context.Context, _ string, _ sampleReq) (sampleResp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	local := c.localLocked()
	// Revoked can close late after this process was frozen; a lease
	// that is over by the clock ends the service at once.
	if !c.mu.isRef || !c.mu.refLease.Valid() {
		return sampleResp{}, errNotReference
	}
	r := sampleResp{T2: local.Add(c.mu.refOffset), Term: c.mu.refTerm, Inherited: c.mu.refInherited, Reset: c.mu.refInherited < 0}
	r.T3 = c.localLocked().Add(c.mu.refOffset)
	return r, nil
}

// campaign competes to be the reference. A node that is not in sync
// takes no part while another reference is known, so that it never
// imposes its own physical clock on a running cluster (not even by
// outranking the reference); only when no reference is heard of for two
// lease periods (a new cluster) does it campaign unsynced. After a
// withdrawn campaign or a lost reference it pauses for a random half to
// whole SyncInterval before it campaigns again.
func (c *Clock) campaign() {
	for first := true; c.ctx.Err() == nil; first = false {
		if !first && !c.pause(c.opt.interval/2+rand.N(c.opt.interval/2+1)) {
			return
		}
		if !c.waitToCampaign() {
			return
		}
		ctx, cancel := context.WithCancel(c.ctx)
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			c.withdrawWhenUnsynced(ctx, cancel)
		}()
		el, err := c.el.Elect(ctx, c.node.Name())
		cancel()
		<-watching
		if err != nil {
			continue // withdrawn, or closed (the loop ends)
		}
		c.becomeReference(el, c.peekTimeline())
		select {
		case <-el.Revoked():
		case <-c.ctx.Done():
		}
		c.leaveReference()
	}
}

// withdrawWhenUnsynced cancels a campaign once another reference is known
// while this node has no bound on its time.
func (c *Clock) withdrawWhenUnsynced(ctx context.Context, cancel context.CancelFunc) {
	tick := time.NewTicker(c.opt.interval)
	defer tick.Stop()
	for {
		c.mu.Lock()
		_, synced := c.mu.filter.Bound(c.localLocked())
		other := c.mu.ref.Node != "" && c.mu.ref.Node != c.node.Name()
		c.mu.Unlock()
		if !synced && other {
			cancel()
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// pause waits for d; false if the Clock closed meanwhile.
func (c *Clock) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *Clock) waitToCampaign() bool {
	grace := 2 * election.DefaultLeaseTTL(c.node.Profile())
	lastRef := time.Now()
	tick := time.NewTicker(c.opt.interval)
	defer tick.Stop()
	for {
		c.mu.Lock()
		_, synced := c.mu.filter.Bound(c.localLocked())
		known := c.mu.ref.Node != ""
		c.mu.Unlock()
		if known {
			lastRef = time.Now()
		}
		if synced || time.Since(lastRef) >= grace {
			return true
		}
		select {
		case <-tick.C:
		case <-c.ctx.Done():
			return false
		}
	}
}

// becomeReference starts serving this node's estimate of cluster time as
// the reference's time, so that cluster time does not jump at failover.
// A node without an estimate continues the timeline some other node
// still has (peeked), and starts a new one only if nobody has one.
func (c *Clock) becomeReference(el *election.Elected, peeked *timesync.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.isRef, c.mu.refLease, c.mu.refTerm = true, el, el.Term()
	c.markSynced()
	local := c.localLocked()
	if b, ok := c.mu.filter.Bound(local); ok {
		c.mu.refOffset, c.mu.refInherited = b.Offset, b.Uncertainty
		return
	}
	if peeked != nil {
		b := peeked.BoundAt(local, c.opt.maxDrift)
		c.mu.refOffset, c.mu.refInherited = b.Offset, b.Uncertainty
		return
	}
	c.mu.refOffset, c.mu.refInherited = 0, -1 // a new timeline: our physical clock
}

// peekReq asks a member for its cluster time, if it has one.
type peekReq struct{}

// peekResp is a member's cluster time: T2 and T3 as in a sample, widened
// by U, its own uncertainty.
type peekResp struct {
	T2, T3 time.Time
	U      time.Duration
}

func (c *Clock) servePeek(_ context.Context, _ string, _ peekReq) (peekResp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	iv, err := c.intervalLocked(c.localLocked())
	if err != nil {
		return peekResp{}, err
	}
	t := iv.Earliest.Add(iv.Latest.Sub(iv.Earliest) / 2)
	return peekResp{T2: t, T3: t, U: iv.Uncertainty()}, nil
}

// peekTimeline asks every member for its cluster time when this node has
// no estimate of its own, and returns the tightest answer as a sample
// (its uncertainty folded into the round trip), or nil.
func (c *Clock) peekTimeline() *timesync.Sample {
	c.mu.Lock()
	_, synced := c.mu.filter.Bound(c.localLocked())
	c.mu.Unlock()
	if synced {
		return nil
	}
	var best *timesync.Sample
	for _, m := range c.node.Members() {
		if m.Name == c.node.Name() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opt.interval)
		var r peekResp
		t1, steps := c.readLocal()
		err := c.node.Call(ctx, m.Name, methodPeek, peekReq{}, &r)
		t4, steps4 := c.readLocal()
		cancel()
		if err != nil || steps != steps4 {
			continue
		}
		// Fold the peer's uncertainty into the exchange: stretching T1
		// and T4 by U each widens the bound by U.
		s := timesync.Sample{T1: t1.Add(-r.U), T2: r.T2, T3: r.T3, T4: t4.Add(r.U)}
		if s.Validate() == nil && (best == nil || s.RTT() < best.RTT()) {
			best = &s
		}
	}
	return best
}

// leaveReference turns the reference back into a follower that keeps the
// time it served, with an uncertainty growing by the drift bound, until
// it samples the next reference.
func (c *Clock) leaveReference() {
	c.mu.Lock()
	defer c.mu.Unlock()
	local := c.localLocked()
	t := local.Add(c.mu.refOffset)
	c.mu.isRef, c.mu.refLease = false, nil
	c.mu.refEpoch = c.mu.refTerm
	c.mu.filter.Reset()
	c.mu.filter.Add(timesync.Sample{T1: local, T2: t, T3: t, T4: local})
}

// follow keeps track of which node is the reference.
func (c *Clock) follow() {
	for l := range c.el.Follow(c.ctx) {
		c.mu.Lock()
		c.mu.ref = l
		c.mu.Unlock()
	}
}

// syncLoop samples the reference every SyncInterval.
func (c *Clock) syncLoop() {
	tick := time.NewTicker(c.opt.interval)
	defer tick.Stop()
	for {
		c.mu.Lock()
		ref, isRef := c.mu.ref.Node, c.mu.isRef
		c.mu.Unlock()
		if ref != "" && !isRef {
			for range samplesPerRound {
				if !c.sample(ref) {
					break
				}
			}
		}
		select {
		case <-tick.C:
		case <-c.ctx.Done():
			return
		}
	}
}

// sample runs one exchange with the reference and feeds the filter. It
// reports whether the exchange got an answer.
func (c *Clock) sample(ref string) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.opt.interval)
	defer cancel()
	var r sampleResp
	t1, steps := c.readLocal()
	err := c.node.Call(ctx, ref, methodSample, sampleReq{}, &r)
	t4, steps4 := c.readLocal()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.ctx.Err() == nil { // not Close cutting the exchange short
			c.mu.failed++
		}
		return false
	}
	if steps4 != steps {
		return true // the physical clock stepped during the exchange
	}
	if r.Term != c.mu.refEpoch {
		// A new reference: its time may differ from the one our samples
		// tracked by what it inherited, or start anew.
		if r.Reset {
			c.mu.filter.Reset()
		} else {
			c.mu.filter.Widen(r.Inherited)
		}
		c.mu.refEpoch = r.Term
	}
	if err := c.mu.filter.Add(timesync.Sample{T1: t1, T2: r.T2, T3: r.T3, T4: t4}); err != nil {
		c.mu.rejected++
		return true
	}
	c.mu.samples++
	c.markSynced()
	return true
}

// stamper carries the hybrid logical clock on every RPC frame.
type stamper struct{ c *Clock }

func (s stamper) Stamp() []byte { return s.c.hlc.Now().AppendBinary(nil) }

func (s stamper) Observe(_ string, stamp []byte) {
	if ts, err := hlc.Decode(stamp); err == nil {
		s.c.hlc.Update(ts) // a stamp too far ahead is ignored
	}
}
