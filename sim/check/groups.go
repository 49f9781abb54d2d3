package check

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Settle is what a group member did with an event it was handed.
type Settle string

// The ways a member settles an event.
const (
	Unsettled Settle = ""     // neither acked nor nacked: the group hands it out again after AckWait
	Acked     Settle = "ack"  // Event.Ack
	Nacked    Settle = "nack" // Event.Nack: handed out again at once
)

// GroupDelivery is one event a consumer group handed a member (its Next
// returned it), and how the member settled it.
type GroupDelivery struct {
	Member     string // the member's name in GroupRecord.Members
	Offset     uint64
	Payload    string
	Deliveries int       // the event's Deliveries(): the group's count, this one included
	At         time.Time // when Next returned it
	// HeldUntil is the end of the member's hold as Next gave it (the
	// event's HeldUntil, by the member's clock): no other member may
	// be handed the offset before. Zero: AckWait after At.
	HeldUntil time.Time
	Settle    Settle
	SettleOK  bool      // Ack or Nack returned nil (with an error its outcome is unknown)
	Settled   time.Time // when Ack or Nack returned
	// SettleCalled is when Ack or Nack was called (zero: unknown, take
	// Settled). The group applies a settle between its call and its
	// return, and may hand a nacked event out again at once, before the
	// Nack's answer arrives.
	SettleCalled time.Time
}

// GroupMember is one member (one group subscription) of a group.
// Unknown lists the ends of its Next calls that returned an error, were
// cut off by its stop, or skipped events whose hold ended before it
// reached them (events.Subscription.Skipped): each may have been handed
// events the member never saw, which the group hands out again after
// AckWait. Asked, where set, has when each of those Nexts was called
// (Asked[i] for Unknown[i]; a missing or zero one: long before): a
// hand-out hidden in it was applied no sooner. Skips, where set, has
// how many hand-outs each skipped (the growth of Skipped over it): a
// Next fetches again after a skip, so it may hide that many, one after
// the other; one cut off at the end hides those it skipped before.
type GroupMember struct {
	Name    string // unique in the record: the node and a number
	Unknown []time.Time
	Asked   []time.Time
	Skips   []int
}

// GroupRecord is what the members of one consumer group of a topic
// received, in the order their Nexts returned.
type GroupRecord struct {
	Topic, Group  string
	From          uint64 // the group's first offset
	AckWait       time.Duration
	MaxDeliveries int // 0: no bound
	Members       []GroupMember
	Deliveries    []GroupDelivery
}

// GroupHistory is what a group workload recorded, with the publications
// of its topics. If Quiet is set, nothing was published from Quiet on
// while the members went on consuming until End: by End the groups must
// be done with every acknowledged publication.
type GroupHistory struct {
	Publications []Publication
	Groups       []GroupRecord
	Quiet, End   time.Time
}

// GroupVerdict judges a group history against S3.
type GroupVerdict struct {
	Delivered   int // deliveries recorded
	Redelivered int // of which with Deliveries above 1
	Acked       int // Acks that returned nil
	Nacked      int // Nacks that returned nil
	Ignored     int // deliveries neither acked nor nacked
	Exhausted   int // offsets handed out MaxDeliveries times and never acked
	Hidden      int // hand-outs no member saw (a gap in an offset's Deliveries)
	// Overlap: an offset handed to a member while another (or the
	// same) still held it: from its delivery until its Ack or Nack
	// returned nil, or until its deadline (delivery + AckWait) passed.
	Overlap Violations
	// Count: an offset's Deliveries did not go up by one from one
	// delivery to the next (a repeat, a decrease, or a gap that no Next
	// of unknown outcome explains), or went above MaxDeliveries.
	Count Violations
	// Lost: an acknowledged publication the group was not done with by
	// End (neither acked after its last delivery, nor handed out
	// MaxDeliveries times), or a delivery with another payload than the
	// one published at its offset.
	Lost Violations
	// AfterAck: an offset handed out again after an Ack that returned
	// nil within the deadline of its delivery.
	AfterAck Violations
}

// CheckGroup judges h against S3, for each group, with margin as the
// error allowed to the deadlines: a member's deadline is AckWait from
// the hand-out by the voters' leader's clock, the record has when Next
// returned by the member's (or the end of the hold Next gave, if
// sooner: GroupDelivery.HeldUntil), so margin covers the fetch's round
// trip and the clocks' disagreement.
func CheckGroup(h GroupHistory, margin time.Duration) GroupVerdict {
	var v GroupVerdict
	for _, g := range h.Groups {
		byOffset := map[uint64][]GroupDelivery{}
		for _, d := range g.Deliveries {
			byOffset[d.Offset] = append(byOffset[d.Offset], d)
			v.count(d)
		}
		for _, off := range slices.Sorted(maps.Keys(byOffset)) {
			ds := byOffset[off]
			slices.SortStableFunc(ds, func(a, b GroupDelivery) int { return a.At.Compare(b.At) })
			v.overlap(g, ds, margin)
			v.counts(g, ds, margin)
			v.afterAck(g, ds, margin)
		}
		v.lost(h, g, byOffset, margin)
	}
	return v
}

// count adds d to the figures.
func (v *GroupVerdict) count(d GroupDelivery) {
	v.Delivered++
	if d.Deliveries > 1 {
		v.Redelivered++
	}
	switch {
	case d.Settle == Acked && d.SettleOK:
		v.Acked++
	case d.Settle == Nacked && d.SettleOK:
		v.Nacked++
	case d.Settle == Unsettled:
		v.Ignored++
	}
}

// heldUntil is when d's hold ends: AckWait after Next returned it, or
// sooner if Next said so (a fetch whose first answer was lost gets
// back what is left of the hold).
func heldUntil(g GroupRecord, d GroupDelivery) time.Time {
	end := d.At.Add(g.AckWait)
	if !d.HeldUntil.IsZero() && d.HeldUntil.Before(end) {
		end = d.HeldUntil
	}
	return end
}

// holdEnd is when d's member stopped holding its offset, at the
// latest: at the end of its hold, or earlier when an Ack or Nack that
// returned nil was called (it took effect between its call and its
// return).
func holdEnd(g GroupRecord, d GroupDelivery) time.Time {
	end := heldUntil(g, d)
	if d.Settle != Unsettled && d.SettleOK {
		if at := cmp.Or(d.SettleCalled, d.Settled); at.Before(end) {
			end = at
		}
	}
	return end
}

// overlap finds a delivery of one offset (ds, in time order) made while
// an earlier one still held it.
func (v *GroupVerdict) overlap(g GroupRecord, ds []GroupDelivery, margin time.Duration) {
	var held time.Time // the latest end of the holds so far
	var holder GroupDelivery
	for i, d := range ds {
		if i > 0 && d.At.Add(margin).Before(held) {
			v.Overlap.add("%s/%s: offset %d handed to %s (delivery %d) %v before %s's hold (delivery %d) ended",
				g.Topic, g.Group, d.Offset, d.Member, d.Deliveries, held.Sub(d.At), holder.Member, holder.Deliveries)
		}
		if end := holdEnd(g, d); end.After(held) {
			held, holder = end, d
		}
	}
}

// counts checks that an offset's Deliveries go up by one, allowing a gap
// only where Nexts of unknown outcome may have taken the missing
// hand-outs.
func (v *GroupVerdict) counts(g GroupRecord, ds []GroupDelivery, margin time.Duration) {
	prev := 0
	var due time.Time // when the previous delivery's hold ended (zero: none)
	for _, d := range ds {
		switch {
		case g.MaxDeliveries > 0 && d.Deliveries > g.MaxDeliveries:
			v.Count.add("%s/%s: offset %d delivery %d to %s, above MaxDeliveries %d", g.Topic, g.Group, d.Offset, d.Deliveries, d.Member, g.MaxDeliveries)
		case d.Deliveries <= prev:
			v.Count.add("%s/%s: offset %d delivery %d to %s after delivery %d", g.Topic, g.Group, d.Offset, d.Deliveries, d.Member, prev)
		case d.Deliveries > prev+1:
			gap := d.Deliveries - prev - 1
			v.Hidden += gap
			if n := hiddenChain(g, due, margin, time.Time{}, d.At); n < gap {
				v.Count.add("%s/%s: offset %d delivery %d to %s after delivery %d, and %d Nexts of unknown outcome that could take the hand-outs between", g.Topic, g.Group, d.Offset, d.Deliveries, d.Member, prev, n)
			}
		}
		prev, due = max(prev, d.Deliveries), holdEnd(g, d)
	}
}

// lateApply is how long after its Next gave up a fetch may still be
// applied: a command on its way to the voters' leader when its node
// crashed, or its caller's ctx ended, is applied or dropped within about
// two election timeouts of the leader's Raft group, and an RPC's try
// lasts no longer than its share of the caller's deadline.
const lateApply = 2 * time.Second

// hiddenChain counts the hand-outs of one offset that g's members may
// have taken unseen after a hold that ended at due: each by a Next of
// unknown outcome (as many as it skipped, at least one) that ended
// before cutoff (zero: any), or that was cut off then but skipped some
// (those), applied no sooner than the offset was free again (due, then
// AckWait after the hidden hand-out before it, less margin) and no
// later than lateApply after its Next ended; and, if next is set (the
// next hand-out seen), each over by then.
func hiddenChain(g GroupRecord, due time.Time, margin time.Duration, cutoff, next time.Time) int {
	type window struct {
		from, to time.Time // when a Next's hidden hand-outs could be applied
		n        int       // how many it may hide
	}
	var ws []window
	for _, m := range g.Members {
		for i, t := range m.Unknown {
			w := window{to: t.Add(lateApply), n: 1}
			if i < len(m.Asked) {
				w.from = m.Asked[i]
			}
			if i < len(m.Skips) {
				w.n = max(m.Skips[i], 1)
			}
			if !cutoff.IsZero() && !t.Before(cutoff) {
				if w.n = 0; i < len(m.Skips) {
					w.n = m.Skips[i]
				}
			}
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, func(a, b window) int { return a.to.Compare(b.to) })
	free := due.Add(-margin) // the earliest the next hidden hand-out could be applied
	n := 0
	for _, w := range ws {
		for range w.n {
			at := free
			if w.from.After(at) {
				at = w.from
			}
			if at.After(w.to) {
				break // its fetch was applied, if at all, while the offset was out
			}
			if !next.IsZero() && at.Add(g.AckWait).After(next.Add(margin)) {
				break
			}
			n++
			free = at.Add(g.AckWait)
		}
	}
	return n
}

// afterAck finds a delivery of an offset after an Ack of it that
// returned nil before its deadline (less margin): such an Ack ended the
// group's work on the offset.
func (v *GroupVerdict) afterAck(g GroupRecord, ds []GroupDelivery, margin time.Duration) {
	for i, a := range ds {
		if a.Settle != Acked || !a.SettleOK || !a.Settled.Add(margin).Before(heldUntil(g, a)) {
			continue
		}
		for _, d := range ds[i+1:] {
			if d.At.After(a.Settled) {
				v.AfterAck.add("%s/%s: offset %d handed to %s (delivery %d) after %s acked it in time", g.Topic, g.Group, d.Offset, d.Member, d.Deliveries, a.Member)
				break
			}
		}
	}
}

// lost checks the payloads of g's deliveries and, after a quiet period,
// that g is done with every acknowledged publication of its topic.
func (v *GroupVerdict) lost(h GroupHistory, g GroupRecord, byOffset map[uint64][]GroupDelivery, margin time.Duration) {
	published := map[uint64]Publication{}
	for _, p := range h.Publications {
		if p.OK && p.Topic == g.Topic && p.Offset >= g.From {
			published[p.Offset] = p
		}
	}
	for _, off := range slices.Sorted(maps.Keys(byOffset)) {
		p, ok := published[off]
		for _, d := range byOffset[off] {
			if ok && d.Payload != p.Payload {
				v.Lost.add("%s/%s: %s got %q at offset %d, where %s published %q", g.Topic, g.Group, d.Member, d.Payload, off, p.Node, p.Payload)
				break
			}
		}
	}
	if h.Quiet.IsZero() {
		return
	}
	for _, off := range slices.Sorted(maps.Keys(published)) {
		why, exhausted := undone(g, published[off], byOffset[off], h.End, margin)
		if why != "" {
			v.Lost.add("%s/%s: offset %d (%q, published by %s): %s", g.Topic, g.Group, off, published[off].Payload, published[off].Node, why)
		}
		if exhausted {
			v.Exhausted++
		}
	}
}

// undone says why the group is not done with an offset by end, given
// its deliveries in time order ("" if it is): done is an Ack (or an
// Ack of unknown outcome) of its last delivery, or MaxDeliveries
// hand-outs (exhausted), counting those no member saw after the last.
//
// An offset no member saw is done when hidden hand-outs (Nexts of
// unknown outcome, one per AckWait, from its publication on) can make
// up all MaxDeliveries: under loss a fetch's answer may take longer than
// the hold it gives, and each such hand-out counts.
func undone(g GroupRecord, p Publication, ds []GroupDelivery, end time.Time, margin time.Duration) (why string, exhausted bool) {
	if len(ds) == 0 {
		if g.MaxDeliveries > 0 && hiddenChain(g, p.Called, margin, end, time.Time{}) >= g.MaxDeliveries {
			return "", true
		}
		return "never delivered", false
	}
	last := ds[len(ds)-1]
	due := holdEnd(g, last) // when the group hands it out again
	// Nexts cut off at end by the workload's close are not counted but
	// for what they skipped before: a hand-out to one of them is not the
	// group's last.
	hidden := hiddenChain(g, due, margin, end, time.Time{})
	switch {
	case last.Settle == Acked:
		return "", false
	case g.MaxDeliveries > 0 && last.Deliveries+hidden >= g.MaxDeliveries:
		return "", true
	case due.Add(margin).After(end):
		return "", false // its redelivery was not due yet
	}
	return fmt.Sprintf("last delivery %d to %s at %s, %s, not acked and not handed out again", last.Deliveries, last.Member, last.At.Format("15:04:05.000"), cmp.Or(string(last.Settle), "unsettled")), false
}
