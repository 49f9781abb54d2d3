package election

import "sync/atomic"

// Stats is a snapshot of an Elector's counters, for monitoring (package
// metrics). The counters count since New.
type Stats struct {
	Group   string // the Elector's group
	Leading int    // leases this Elector's candidates hold now (0 or 1 unless several candidates campaign on it)
	// Term is the highest term this node has seen in the group: won
	// here, or announced by a leader.
	Term uint64
	// Wins counts the terms this Elector's candidates won.
	Wins uint64
	// LeaderChanges counts the changes of leader this node saw: each
	// new leader or new term announced (its own wins included).
	LeaderChanges uint64
	// LeaseLosses counts the leases of this Elector that ended without
	// a Resign or Close: not renewed in time, preempted by a higher
	// candidate, or found over by Valid.
	LeaseLosses uint64
}

// counters are an Elector's own counters; the watch keeps those of what
// gossip says.
type counters struct {
	leading     atomic.Int64
	wins        atomic.Uint64
	leaseLosses atomic.Uint64
}

// Stats returns the Elector's counters now. It takes no lock.
func (e *Elector) Stats() Stats {
	return Stats{
		Group:         e.group,
		Leading:       int(e.stats.leading.Load()),
		Term:          e.w.term.Load(),
		Wins:          e.stats.wins.Load(),
		LeaderChanges: e.w.changes.Load(),
		LeaseLosses:   e.stats.leaseLosses.Load(),
	}
}

// storeMax raises a to v if v is greater.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
