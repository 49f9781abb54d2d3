package election

import (
	"fmt"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Gossip can hand an announcement over late or twice: a campaign
// announcement older than the candidate's end of campaign must not bring
// the candidate back.
func TestWatchDropsLateAnnouncements(t *testing.T) {
	w := newWatch(cluster.SystemClock{})
	now := time.Now()
	c := candidate{ID: "a", Node: "n1"}
	campaign := announcement{Group: "g", ID: c.ID, Node: c.Node, TTL: time.Second, Campaign: true, Every: time.Second / 2, Inc: 7, Seq: 1}
	stop := campaign
	stop.End, stop.Seq = true, 2
	w.heard(campaign, now)
	w.heard(stop, now)
	w.heard(campaign, now) // again, late
	if _, _, n := w.higher(candidate{ID: "z", Node: "n0"}, now); n != 0 {
		t.Errorf("%d higher candidates after a late campaign announcement, want 0", n)
	}
	// A new incarnation (a restarted Elector) counts afresh.
	again := campaign
	again.Inc = 8
	w.heard(again, now)
	if _, _, n := w.higher(candidate{ID: "z", Node: "n0"}, now); n != 1 {
		t.Errorf("%d higher candidates after a new Elector's announcement, want 1", n)
	}
}

// The end of a term this node never heard won still wakes the campaigns:
// one of them may have been refused by its holder.
func TestWatchEndOfUnknownTermWakes(t *testing.T) {
	w := newWatch(cluster.SystemClock{})
	_, _, changed := w.view()
	w.heard(announcement{Group: "g", Term: 5, ID: "a", Node: "n1", TTL: time.Second, End: true, Inc: 1, Seq: 3}, time.Now())
	if !isClosed(changed) {
		t.Fatal("the end of an unknown term did not wake the campaigns")
	}
	_, _, changed = w.view()
	w.heard(announcement{Group: "g", Term: 5, ID: "a", Node: "n1", TTL: time.Second, Inc: 1, Seq: 4}, time.Now())
	if l, _, _ := w.view(); l.ID != "" || isClosed(changed) {
		t.Errorf("a win heard after its term's end made %+v the leader; want none", l)
	}
	_, _, changed = w.view()
	w.released(announcement{Group: "g", Term: 5, ID: "a", Node: "n1", End: true})
	if !isClosed(changed) {
		t.Error("a release notice of an ended term did not wake the campaigns")
	}
}

// A member the cluster reports failed no longer counts as a candidate
// nor as the leader.
func TestWatchForgetsFailedNode(t *testing.T) {
	w := newWatch(cluster.SystemClock{})
	now := time.Now()
	w.heard(announcement{Group: "g", ID: "a", Node: "n9", TTL: time.Second, Campaign: true, Every: time.Second / 2, Inc: 1, Seq: 1}, now)
	w.heard(announcement{Group: "g", Term: 3, ID: "b", Node: "n9", TTL: time.Second, Inc: 2, Seq: 1}, now)
	_, _, changed := w.view()
	w.forgetNode("n9")
	if !isClosed(changed) {
		t.Error("forgetting a node did not wake the campaigns")
	}
	if l, _, _ := w.view(); l.ID != "" {
		t.Errorf("leader %+v on a failed node, want none", l)
	}
	if _, _, n := w.higher(candidate{ID: "z", Node: "n0"}, now); n != 0 {
		t.Errorf("%d higher candidates on a failed node, want 0", n)
	}
}

// A resigned leader that campaigns at once announces its end, then its
// campaign; gossip may deliver the campaign first. The end still ends
// the term, though its sequence number is older.
func TestWatchLateEndStillEnds(t *testing.T) {
	w := newWatch(cluster.SystemClock{})
	now := time.Now()
	win := announcement{Group: "g", Term: 5, ID: "a", Node: "n1", TTL: time.Second, Inc: 1, Seq: 9}
	campaign := announcement{Group: "g", ID: "a", Node: "n1", TTL: time.Second, Campaign: true, Every: time.Second / 2, Inc: 1, Seq: 11}
	end := win
	end.End, end.Seq = true, 10
	w.heard(win, now)
	w.heard(campaign, now)
	w.heard(end, now)
	if l, _, _ := w.view(); l.Term != 0 {
		t.Errorf("leader %+v after its end arrived late, want none", l)
	}
	if _, _, n := w.higher(candidate{ID: "0", Node: "n0"}, now); n != 1 {
		t.Errorf("%d candidates campaigning after the late end, want the one that campaigns again", n)
	}
}

// The latest announcement of every candidate is kept a while, not for
// ever: past pruneAt entries, those older than lastHorizon go.
func TestWatchForgetsOldCandidates(t *testing.T) {
	w := newWatch(cluster.SystemClock{})
	start := time.Now()
	for i := range 3 * pruneAt {
		at := start.Add(time.Duration(i) * time.Second)
		w.heard(announcement{Group: "g", ID: "a", Node: fmt.Sprintf("n%d", i), TTL: time.Second, Campaign: true, End: true, Inc: 1, Seq: 1}, at)
	}
	if n := len(w.last); n > pruneAt+int(lastHorizon/time.Second)+1 {
		t.Errorf("%d candidates remembered, want those of the last %v only", n, lastHorizon)
	}
}
