package simnet

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Partition splits the hosts into groups that cannot reach each other in
// either direction. A host named in no group keeps every link (a bridge).
// Partition replaces any earlier partition and every Block. The open
// streams that cross the new cut are reset, or with SetBlackHole held.
func (n *Net) Partition(groups ...[]string) {
	n.mu.Lock()
	clear(n.mu.group)
	clear(n.mu.blocked)
	for i, g := range groups {
		for _, ip := range g {
			n.mu.group[canonIP(ip)] = i
		}
	}
	n.recutLocked()
}

// Block cuts one direction: nothing from host from reaches host to, while
// packets from to still reach from. Streams need both directions, so open
// streams between the two are reset and new dials between them time out;
// with SetBlackHole the streams stay, and what from writes to to is held
// until the cut heals, while what to writes still arrives.
func (n *Net) Block(from, to string) {
	n.mu.Lock()
	n.mu.blocked[link{canonIP(from), canonIP(to)}] = true
	n.recutLocked()
}

// Heal removes every partition and Block. Loss, delay and crashed hosts
// stay as they are. Held streams flow again, each direction after a
// retransmission wait (see SetBlackHole).
func (n *Net) Heal() {
	n.mu.Lock()
	clear(n.mu.group)
	clear(n.mu.blocked)
	n.recutLocked()
}

// SetBlackHole chooses what a partition or Block does to the open streams
// it cuts. Off (the default), they are reset at once, as when a peer's
// kernel or a firewall answers with RST. On, they are black-holed, as a
// real partition does: nothing is reset, writes queue until the stream's
// buffer is full, reads and calls hang until their deadlines, and the
// connections linger half-open. When the cut heals, each held direction
// delivers what it holds after a wait drawn uniformly from the time it
// was held (TCP's retransmission timer has backed off to about that
// long by then). A crash still resets its streams, as a dead process's
// kernel does, and so does a pause (SetPaused). Two simplifications: a
// Close reaches the peer at once even across the cut (its writes then
// fail with EPIPE), and so does the end of a held direction that holds
// no data when the cut heals.
func (n *Net) SetBlackHole(on bool) {
	n.mu.Lock()
	n.mu.blackHole = on
	n.recutLocked()
}

// recutLocked applies a change of links to the open streams and unlocks
// n.mu: it resets those that can no longer live and holds or releases
// each direction of the others.
func (n *Net) recutLocked() {
	cut := n.cutStreamsLocked()
	type change struct {
		h       *half
		hold    bool
		release time.Time // when a released direction delivers again
	}
	var changes []change
	now := time.Now()
	// In the order the streams opened, so that the draws below, and so
	// the run, follow from the seed.
	pairs := slices.SortedFunc(maps.Keys(n.mu.streams), func(a, b *streamPair) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range pairs {
		for _, d := range [2]struct {
			h        *half
			from, to string
		}{{p.a.tx, p.a.localIP, p.b.localIP}, {p.b.tx, p.b.localIP, p.a.localIP}} {
			up := n.reachableLocked(d.from, d.to)
			switch {
			case !up && d.h.heldSince.IsZero():
				d.h.heldSince = now
				changes = append(changes, change{h: d.h, hold: true})
			case up && !d.h.heldSince.IsZero():
				wait := time.Duration(n.mu.rng.Int64N(int64(now.Sub(d.h.heldSince)) + 1))
				d.h.heldSince = time.Time{}
				changes = append(changes, change{h: d.h, release: now.Add(wait)})
			}
		}
	}
	// Under n.mu (Net.mu before half.mu, never the other way), so that
	// two changes of links at once apply their holds in their order.
	for _, c := range changes {
		c.h.hold(c.hold, c.release)
	}
	n.mu.Unlock()
	resetAll(cut)
}

// cutStreamsLocked unregisters and returns the streams that can no longer
// live, for the caller to reset outside the lock: those that lost a
// direction, or with SetBlackHole only those with an end down or paused.
func (n *Net) cutStreamsLocked() []*streamPair {
	var cut []*streamPair
	for p := range n.mu.streams {
		a, b := p.a.localIP, p.b.localIP
		dead := !n.connectedLocked(a, b)
		if n.mu.blackHole {
			dead = n.mu.down[a] || n.mu.down[b] || n.mu.paused[a] > 0 || n.mu.paused[b] > 0
		}
		if dead {
			cut = append(cut, p)
			delete(n.mu.streams, p)
		}
	}
	return cut
}
