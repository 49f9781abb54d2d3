package cluster

import (
	"errors"
	"strings"
	"time"
)

// watchAlone records the seeds of a Join that succeeded and starts, on
// the first call, the goroutine that joins them again whenever the node
// is alone (see Join). It runs until Leave or Close.
func (n *Node) watchAlone(seeds []seed) {
	n.mu.Lock()
	n.rejoinSeeds = seeds
	started := n.aloneWatched
	n.aloneWatched = true
	n.mu.Unlock()
	if !started {
		n.spawn(n.aloneLoop)
	}
}

// aloneLoop checks a few times per alone period whether the node sees
// another alive member, and rejoins once it has seen none for the whole
// period. It counts the members again only when the membership moved
// (MembersVersion): on a large cluster a count is a walk over every
// member, and the membership of a settled cluster rarely moves.
func (n *Node) aloneLoop() {
	timing := n.cfg.Profile.joinTiming()
	tick := time.NewTicker(timing.alone / 4)
	defer tick.Stop()
	var since time.Time // when the node was first seen alone; zero while it is not
	version, alone := n.membersVersion.Load(), n.alone()
	for {
		select {
		case <-tick.C:
		case <-n.rejoinCtx.Done():
			return
		}
		if v := n.membersVersion.Load(); v != version {
			version, alone = v, n.alone()
		}
		switch {
		case !alone:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= timing.alone:
			n.rejoin(timing)
			since = time.Time{}
			version, alone = n.membersVersion.Load(), n.alone()
		}
	}
}

// alone reports whether the node sees no other alive member.
func (n *Node) alone() bool { return n.serf.Memberlist().NumMembers() <= 1 }

// rejoin joins the seeds of the last Join that succeeded, looking them
// up again on every attempt, with backoff, until an attempt contacts a
// seed or another member shows up, or the node leaves or closes.
func (n *Node) rejoin(timing joinTiming) {
	ctx := n.rejoinCtx
	n.mu.Lock()
	seeds := n.rejoinSeeds
	n.mu.Unlock()
	raw := make([]string, len(seeds))
	for i, sd := range seeds {
		raw[i] = sd.raw
	}
	n.log.Info("alone: joining the seeds again", "seeds", raw)
	b := timing.backoff()
	warned := false
	for tries := 1; ctx.Err() == nil && n.alone(); tries++ {
		a, err := n.joinOnce(ctx, seeds)
		switch {
		case err == nil && a.contacted > 0:
			n.log.Info("joined the seeds again", "contacted", a.contacted, "attempts", tries)
			return
		case err != nil && (ctx.Err() != nil || errors.Is(err, ErrClosed)):
			return
		case err != nil && !warned: // refused (a wrong key, a name in use): it may change, keep trying
			n.log.Warn("joining the seeds again: refused; still trying", "err", err)
			warned = true
		case err == nil:
			n.log.Debug("joining the seeds again: no seed could be contacted", "attempt", tries, "why", strings.Join(a.failures, "; "))
		}
		if n.sleep(ctx, b.wait()) != nil {
			return
		}
	}
}
