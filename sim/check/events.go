package check

import (
	"slices"
	"time"
)

// Publication is one Publish of an event stream's history: its payload
// (unique in the history), and, if it returned without error (OK), the
// offset it was given.
type Publication struct {
	Node         string
	Topic        string
	Payload      string
	Offset       uint64
	OK           bool
	Called, Done time.Time
}

// Delivery is one event a subscription returned.
type Delivery struct {
	Offset  uint64
	Payload string
	At      time.Time
}

// SubscriptionRecord is what one subscription of a topic returned, in
// order. A
// Truncated entry stands for a Next that returned ErrTruncated: the
// offsets up to TruncatedTo were removed before they were read, and the
// next delivery may skip them.
type SubscriptionRecord struct {
	Name       string // unique in the history: the node and a number
	Topic      string
	From       uint64 // the offset it started at (0: unknown, the first it returned)
	Deliveries []Delivery
	// Truncated lists, for each ErrTruncated, the index in Deliveries
	// before which it came and the last offset it reported lost.
	Truncated []Truncation
}

// Truncation is one ErrTruncated of a subscription.
type Truncation struct {
	Before int    // index in Deliveries of the next delivery
	Lost   uint64 // the last offset reported lost
}

// EventHistory is what an event workload recorded.
type EventHistory struct {
	Publications  []Publication
	Subscriptions []SubscriptionRecord
}

// EventVerdict judges an event history against S1, S2 and S4.
type EventVerdict struct {
	Published  int           // publications that returned an offset
	Failed     int           // that returned an error (outcome unknown)
	Delivered  int           // deliveries over every subscription
	P50, P99   time.Duration // publish latency of those that returned an offset
	S1         Violations    // a gap, a duplicate or a reordering in a subscription, or two payloads at one offset
	S2         Violations    // an acknowledged publication missing from a subscription that read past its offset, or at another offset
	S4         Violations    // a subscription from an offset that did not start there (nor at the first offset after a truncation it reported)
	Truncation int           // ErrTruncated seen
}

// CheckEvents judges h. S1: each subscription returns consecutive
// offsets (but across a reported truncation, which skips exactly the
// offsets it reports), all subscriptions agree on the payload at every
// offset of a topic, and no payload is at two offsets (payloads are
// unique in a history, so that is one Publish appended twice). S2: an
// event whose Publish returned an offset
// is at that offset, and every subscription that read past that offset
// read it (unless a truncation it reported covered it). S4: a
// subscription with a From returns From first, or reports a truncation
// from From on and then returns the offset after it.
func CheckEvents(h EventHistory) EventVerdict {
	var v EventVerdict
	type key struct {
		topic  string
		offset uint64
	}
	at := map[key]string{} // payload seen at each offset
	type payloadKey struct{ topic, payload string }
	where := map[payloadKey]uint64{} // offset each payload was read at
	var latency []time.Duration
	for _, p := range h.Publications {
		if !p.OK {
			v.Failed++
			continue
		}
		v.Published++
		latency = append(latency, p.Done.Sub(p.Called))
	}
	for _, s := range h.Subscriptions {
		v.Truncation += len(s.Truncated)
		v.Delivered += len(s.Deliveries)
		var prev uint64
		for i, d := range s.Deliveries {
			want := prev + 1
			if i == 0 {
				want = cmpOr(s.From, d.Offset)
			}
			if t := truncationBefore(s.Truncated, i); t != nil {
				want = max(want, t.Lost+1) // a later removal is a truncation of its own
			}
			switch {
			case i == 0 && s.From != 0 && len(s.Truncated) > 0 && s.Truncated[0].Before == 0 && s.Truncated[0].Lost < s.From:
				v.S4.add("%s: from offset %d, reported offsets up to %d lost", s.Name, s.From, s.Truncated[0].Lost)
			case i == 0 && s.From != 0 && d.Offset != want:
				v.S4.add("%s: from offset %d, started at %d, want %d", s.Name, s.From, d.Offset, want)
			case d.Offset != want:
				v.S1.add("%s: offset %d after %d, want %d", s.Name, d.Offset, prev, want)
			}
			k := key{s.Topic, d.Offset}
			if p, ok := at[k]; ok && p != d.Payload {
				v.S1.add("%s: offset %d holds %q, another subscription read %q there", s.Name, d.Offset, d.Payload, p)
			}
			at[k] = d.Payload
			pk := payloadKey{s.Topic, d.Payload}
			if off, ok := where[pk]; ok && off != d.Offset {
				v.S1.add("%s: %q at offset %d, and at offset %d too: one Publish appended twice", s.Name, d.Payload, d.Offset, off)
			}
			where[pk] = d.Offset
			prev = d.Offset
		}
	}
	for _, p := range h.Publications {
		if !p.OK {
			continue
		}
		for _, s := range h.Subscriptions {
			if s.Topic != p.Topic || !readPast(s, p.Offset) || lostIn(s, p.Offset) {
				continue
			}
			i := slices.IndexFunc(s.Deliveries, func(d Delivery) bool { return d.Offset == p.Offset })
			switch {
			case i < 0:
				v.S2.add("%s never read %q, published at offset %d by %s", s.Name, p.Payload, p.Offset, p.Node)
			case s.Deliveries[i].Payload != p.Payload:
				v.S2.add("%s read %q at offset %d, where %s published %q", s.Name, s.Deliveries[i].Payload, p.Offset, p.Node, p.Payload)
			}
		}
	}
	v.P50, v.P99 = Percentile(latency, 50), Percentile(latency, 99)
	return v
}

func cmpOr(a, b uint64) uint64 {
	if a != 0 {
		return a
	}
	return b
}

// truncationBefore returns the truncation reported just before delivery
// i, if any.
func truncationBefore(ts []Truncation, i int) *Truncation {
	for j := range ts {
		if ts[j].Before == i {
			return &ts[j]
		}
	}
	return nil
}

// readPast reports whether s read an offset above off, having started
// at or below it.
func readPast(s SubscriptionRecord, off uint64) bool {
	if len(s.Deliveries) == 0 {
		return false
	}
	start := cmpOr(s.From, s.Deliveries[0].Offset)
	return start <= off && s.Deliveries[len(s.Deliveries)-1].Offset > off
}

// lostIn reports whether a truncation s reported covered off.
func lostIn(s SubscriptionRecord, off uint64) bool {
	for _, t := range s.Truncated {
		if off <= t.Lost {
			return true
		}
	}
	return false
}
