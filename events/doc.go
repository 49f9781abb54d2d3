// Package events is an ordered, replicated event stream per topic, with
// no server of its own: the events live in the log of the cluster's
// voters (package voters), the same Raft log that grants locks and
// elections, in every voter's memory and, with cluster.Config.DataDir,
// on its disk.
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
//   - S3: a group subscription (Group) is a member of a consumer group
//     on the topic: the group hands each event to one member at a time,
//     which acks it (Event.Ack) or hands it back (Event.Nack); an event
//     not acked within AckWait is handed out again, to any member, up to
//     MaxDeliveries times. The group's position and its deliveries are
//     entries of the voters' log, so they survive the crash of any
//     member and of the voters' leader. Delivery is at-least-once: a
//     member that was slow past its AckWait may process an event that
//     another member processes too, so make the effects idempotent.
//     Deadlines are the log's time (below): a leader change neither
//     delays nor hastens a redelivery, whatever the leaders' clocks read.
//     AckWait runs from the hand-out, not from the call to Next: a Next
//     that waited through an outage of the voters keeps what it is
//     handed once they answer, and Event.HeldUntil says when the hold
//     ends by the member's clock.
//   - S4: a Subscription from an offset (FromOffset) or a time (FromTime)
//     starts there and then follows new events; an offset that retention
//     removed is ErrTruncated from Next, never skipped silently, and so
//     is falling behind retention while reading.
//   - Event times are the log's time when the event was appended: the
//     first voters' leader's clock, which each new leader goes on from by
//     the time its own clock says passed since it applied the latest
//     time in the log. So they never decrease along the offsets, never
//     stand still or leap for a difference between the leaders' clock
//     readings, and stay as close to that first clock as the leaders'
//     clocks' rates agree (a leader whose clock is stepped does not
//     move them). FromTime reads them.
//
// # Durability and bounds
//
// The log is on the voters (by default five), and survives what the
// lock table survives (package voters, Durability):
//
//   - in memory (the default): the loss of a minority of the voters at
//     once and rolling restarts one node at a time; not the loss of a
//     majority at once, nor a restart of the whole cluster;
//   - with cluster.Config.DataDir on every node: also the loss of any
//     number of voters at once, a restart of the whole cluster included,
//     once a majority of them is back on its directory (until then
//     Publish and Subscribe wait, or fail with their context): events,
//     offsets and the groups' positions and pending deliveries go on
//     (TestFullRestartWithDataDir). Not the loss of a majority's
//     directories. The log's time does not count the time the whole
//     group was down: AckWait deadlines and age retention resume where
//     they stopped.
//
// A topic keeps at most 64
// MiB of events (payloads, keys and metadata; the oldest go first) unless
// SetRetention says otherwise, and by age if it says so.
//
// # Cost
//
// A Publish is one command to the voters' leader and one entry of the
// log; the Publishes that meet on a Stream (one request in flight, the
// others waiting for it) go together in the next request, as one entry,
// and the leader appends the entries that arrive together in one round
// to the followers. A plain subscription reads up to 256 events a
// round from a member's table, the leader's first, and waits there for
// new ones with a held read of up to two seconds, so a subscriber costs
// no entries. A group member costs an entry per round, which takes one
// event, or up to Prefetch events.
//
// # Testing
//
// The chaos engine (sim/chaos) judges S1-S3 in every scenario, with
// every node publishing, subscribing and running a member of one
// consumer group (its loss scenario leaves the voters without a leader
// for seconds at a time while every member's Next waits). S1-S4 are
// judged from recorded histories (sim/check: CheckEvents, CheckGroup)
// on the simulated network through a crash of the voters' leader, a
// partition, the replacement of a voter, a rolling restart and the
// crash of a group member holding events (scenarios_test.go), S3
// across processes (examples/events), and S1 and S2 on loopback
// sockets (TestLoopback). A restart of every node at once keeps the
// log, the offsets and the groups with DataDirs (TestFullRestartWithDataDir;
// the chaos engine's outage scenario, where S1-S3 hold across three
// outages and the same schedule in memory breaks S1 or S2).
//
// # Not yet
//
// The number of topics and of groups is not bounded: each costs memory
// on every voter (and disk, with a DataDir), and this package cannot
// delete them yet. A snapshot holds the whole log: with a DataDir each
// voter writes it whole (at least every SnapshotEntries entries, or as
// many bytes as the last one).
package events
