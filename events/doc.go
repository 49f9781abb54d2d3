// Package events is an ordered, replicated event stream per topic, with
// no server of its own: the events live in the log of the cluster's
// voters (package voters), the same Raft log that grants locks and
// elections, and in every voter's memory.
//
//	s, _ := events.New(node)
//	e, err := s.Publish(ctx, "orders", payload, events.IdempotencyKey(id))
//	sub, _ := s.Subscribe(ctx, "orders", events.FromOffset(41))
//	for {
//		e, err := sub.Next(ctx) // e.Offset: 41, 42, 43, ...
//	}
//
// # Guarantees
//
//   - S1: every subscriber of a topic sees the same events at the same
//     offsets (1, 2, 3, ...), and one Subscription returns each offset
//     once, in order, with no gap. The voters' leader assigns the
//     offsets as it appends the events to the log, and every voter's log
//     is a prefix of the leader's, so a read from any voter agrees with
//     every other.
//   - S2: an event whose Publish returned is not lost while a majority of
//     the voters lives: across crashes of the leader, partitions, the
//     replacement of voters and rolling restarts (a new voter receives
//     the events with the rest of the voters' state). Publish returns
//     once a majority holds the event in its log and the leader applied
//     it. A Publish that returned an error may or may not have appended
//     its event; a retry with the same IdempotencyKey appends it at most
//     once, as long as the topic still holds the first.
//   - S4: a Subscription from an offset (FromOffset) or a time (FromTime)
//     starts there and then follows new events; an offset that retention
//     removed is ErrTruncated from Next, never skipped silently, and so
//     is falling behind retention while reading.
//   - Event times are the voters' leader's clock when it appended the
//     event, never decreasing along the offsets (an event stamped earlier
//     than the one before it by a new leader whose clock is behind takes
//     that one's time). FromTime reads them, so it is as accurate as the
//     leaders' clocks agree.
//
// # Durability and bounds
//
// The log is in memory, on the voters (by default five): it survives
// what the lock table survives (the loss of a minority of voters at
// once, rolling restarts one node at a time), not the loss of a majority
// at once, nor a restart of the whole cluster. A topic keeps at most 64
// MiB of events (payloads, keys and metadata; the oldest go first).
//
// # Not yet
//
// Consumer groups (one member at a time per event, acks, redelivery),
// retention by age and per-topic retention settings are in the
// replicated state machine (internal/eventlog) but not yet in this
// package. The number of topics is not bounded: each costs memory on
// every voter until it is deleted, which this package cannot do yet.
package events
