package election

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
)

// broadcastName is the gossip broadcast by which leaders announce
// themselves (and their end) to every node.
const broadcastName = "_election"

// announcement is gossiped to every node: a leader won (or still
// holds) Term, or (End) it stopped; or (Campaign) a candidate campaigns,
// or (Campaign and End) stopped campaigning.
type announcement struct {
	Group    string        `msgpack:"g"`
	Term     uint64        `msgpack:"t,omitempty"`
	ID       string        `msgpack:"i"`
	Node     string        `msgpack:"n"`
	Priority int           `msgpack:"p,omitempty"`
	TTL      time.Duration `msgpack:"d"`
	End      bool          `msgpack:"e,omitempty"`
	Campaign bool          `msgpack:"c,omitempty"`
	// Every (campaign): the candidate announces again within this long.
	Every time.Duration `msgpack:"v,omitempty"`
	// Inc and Seq order one Elector's announcements: Inc is drawn at
	// random when it is made, Seq counts. Gossip can deliver an
	// announcement late, after a newer one, or again (serf hands its
	// recent events to the members it synchronizes with); a campaign
	// announcement taken for news would bring back, for 1.25 TTL, a
	// candidate that stopped. Zero: unordered (a release notice).
	Inc uint64 `msgpack:"x,omitempty"`
	Seq uint64 `msgpack:"q,omitempty"`
}

// stamp is the Inc and Seq of the latest announcement of a candidate,
// and when it was heard.
type stamp struct {
	inc, seq uint64
	at       time.Time
}

// Entries of watch.last are kept for lastHorizon after their
// announcement, past any late copy gossip delivers; once the map holds
// more than pruneAt, those older (of candidates neither campaigning nor
// leading) are dropped, so it holds what is recent, not every candidate
// the group ever had (node names change with each restart).
const (
	lastHorizon = time.Minute
	pruneAt     = 64
)

// watch is what this node knows of its group's leader, from the
// leaders' announcements: the latest term announced, until its end is
// announced or it goes unrefreshed for a hold (a leader announces again
// every half TTL).
type watch struct {
	clk     cluster.Clock // the node's
	mu      sync.Mutex
	leader  Leader
	expiry  time.Time
	changed chan struct{} // closed and replaced on every change
	// campaigning: the candidates heard campaigning, until when (they
	// announce again every half TTL while they do).
	campaigning map[candidate]time.Time
	// last: by candidate, the latest announcement heard (see
	// lastHorizon).
	last map[candidate]stamp
	// ended is the highest term whose end was heard: a win or renewal
	// announcement of a term up to it is late gossip (the release
	// notice travels faster than the win's gossip) and is ignored.
	ended uint64

	term    atomic.Uint64 // the highest term seen (see Stats)
	changes atomic.Uint64 // changes of leader seen (see Stats)
}

func newWatch(clk cluster.Clock) *watch {
	return &watch{clk: clk, changed: make(chan struct{}), campaigning: map[candidate]time.Time{}, last: map[candidate]stamp{}}
}

// heard folds an announcement of the watched group in.
func (w *watch) heard(a announcement, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := candidate{ID: a.ID, Node: a.Node, Priority: a.Priority}
	if a.Seq != 0 {
		if l, ok := w.last[c]; ok && l.inc == a.Inc && a.Seq <= l.seq {
			// Late or repeated: a newer one was heard. A leader's end
			// still counts (ending a term twice does nothing): a
			// resigned leader that campaigns at once sends the end and
			// then the campaign, and gossip may deliver them the other
			// way round.
			if a.End && !a.Campaign {
				w.endLocked(a.Term, w.currentLocked(now))
			}
			return
		}
		w.last[c] = stamp{a.Inc, a.Seq, now}
		if len(w.last) > pruneAt {
			w.pruneLocked(now)
		}
	}
	if a.Campaign {
		if a.End {
			delete(w.campaigning, c)
		} else {
			w.campaigning[c] = now.Add(max(2*a.Every, leases.Hold(a.TTL)))
		}
		return
	}
	// A candidate that won, or whose lease ended, campaigns no more
	// (until it announces so again).
	delete(w.campaigning, c)
	cur := w.currentLocked(now)
	switch {
	case a.End:
		w.endLocked(a.Term, cur)
		return
	case a.Term < cur.Term || a.Term <= w.ended:
		return // older than the leader known, or over: late gossip
	}
	l := Leader{ID: a.ID, Node: a.Node, Term: a.Term}
	changed := l != cur
	w.leader, w.expiry = l, now.Add(leases.Hold(a.TTL))
	storeMax(&w.term, a.Term)
	if changed {
		w.changes.Add(1)
		w.notifyLocked()
	}
}

// pruneLocked drops the entries of last older than lastHorizon, but
// those of candidates campaigning or leading.
func (w *watch) pruneLocked(now time.Time) {
	for c, st := range w.last {
		leading := w.leader.ID == c.ID && w.leader.Node == c.Node
		if _, live := w.campaigning[c]; !live && !leading && now.Sub(st.at) > lastHorizon {
			delete(w.last, c)
		}
	}
}

// endLocked records that term ended, and forgets the leader known if
// it held that term. It wakes the campaigns (and reports so) if that is
// news, even when this node had not heard of the term's win yet: a
// campaign whose claim that term's holder refused claims again.
func (w *watch) endLocked(term uint64, cur Leader) bool {
	news := term > w.ended
	w.ended = max(w.ended, term)
	if term == cur.Term {
		w.leader, w.expiry = Leader{}, time.Time{}
		news = true
	}
	if news {
		w.notifyLocked()
	}
	return news
}

// released folds in the direct notice that the grant of a's term was
// freed at the voters: the term is over, and the group's key is free (or
// taken by a candidate that claimed first). It wakes every campaign
// waiting on this watch, even if the end was heard already: a claim
// refused before the release was applied must be made again now.
func (w *watch) released(a announcement) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.endLocked(a.Term, w.currentLocked(w.clk.Now())) {
		w.notifyLocked()
	}
}

// forgetNode drops what the watch knows of the candidates and leader on
// node, which the cluster reports failed or gone: a candidate that
// crashed right after announcing must not hold the others off until its
// entry expires. A live node the cluster suspected wrongly announces
// again within half a TTL.
func (w *watch) forgetNode(node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for c := range w.campaigning {
		if c.Node == node {
			delete(w.campaigning, c)
			changed = true
		}
	}
	if w.leader.Node == node {
		w.leader, w.expiry = Leader{}, time.Time{}
		changed = true
	}
	if changed {
		w.notifyLocked()
	}
}

// nodes returns the nodes of the candidates heard campaigning and live
// at now, each once.
func (w *watch) nodes(now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for c, until := range w.campaigning {
		if now.Before(until) && !seen[c.Node] {
			seen[c.Node] = true
			out = append(out, c.Node)
		}
	}
	return out
}

func (w *watch) currentLocked(now time.Time) Leader {
	if w.leader.ID != "" && !now.Before(w.expiry) {
		w.leader = Leader{}
	}
	return w.leader
}

// view returns the leader known now (zero: none), when that knowledge
// expires, and the channel that closes on the next change.
func (w *watch) view() (Leader, time.Time, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.currentLocked(w.clk.Now()), w.expiry, w.changed
}

// higher returns the highest-ranked live candidate heard campaigning
// that outranks c, if any, until when it counts as campaigning unless
// it announces again, and how many such candidates there are.
func (w *watch) higher(c candidate, now time.Time) (best candidate, bestUntil time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for o, until := range w.campaigning {
		if !now.Before(until) {
			delete(w.campaigning, o)
			continue
		}
		if o.rank(c) > 0 {
			if n == 0 || o.rank(best) > 0 {
				best, bestUntil = o, until
			}
			n++
		}
	}
	return best, bestUntil, n
}

func (w *watch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// listen registers the watch for the broadcasts of group on n.
func (w *watch) listen(n *cluster.Node, group string) (unregister func()) {
	return n.OnBroadcast(broadcastName, func(payload []byte) {
		var a announcement
		if msgpack.Unmarshal(payload, &a) != nil || a.Group != group {
			return
		}
		w.heard(a, w.clk.Now())
	})
}

// announce gossips the lease of term (or its end) to every node.
func (e *Elector) announce(id string, term uint64, end bool) {
	e.broadcast(announcement{Group: e.group, Term: term, ID: id, Node: e.node.Name(), Priority: e.prio, TTL: e.ttl, End: end})
}

// announceCampaign gossips that c campaigns (and announces again
// within every), or (end) stopped.
func (e *Elector) announceCampaign(c candidate, every time.Duration, end bool) {
	e.broadcast(announcement{Group: e.group, ID: c.ID, Node: c.Node, Priority: c.Priority, TTL: e.ttl, End: end, Campaign: true, Every: every})
}

func (e *Elector) broadcast(a announcement) {
	a.Inc, a.Seq = e.inc, e.seq.Add(1)
	b, err := msgpack.Marshal(a)
	if err == nil {
		err = e.node.Broadcast(broadcastName, b)
	}
	if err != nil && e.ctx.Err() == nil {
		e.node.Logger().Debug("leader announcement not sent", "group", e.group, "err", err)
	}
}
