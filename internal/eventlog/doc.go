// Package eventlog is the replicated state machine of the event streams:
// per topic, an append-only sequence of events numbered by offset, its
// retention, and the consumer groups reading it. The voters replicate its
// commands in their log (as they do the lease table's) and every member
// applies them in log order, so every member holds the same topics.
//
// # Determinism
//
// Apply never reads a clock. Every command that depends on time carries
// the time it was proposed at (Cmd.Now, nanoseconds of the proposer's
// cluster time), and the table keeps event times non-decreasing along the
// offsets (an event stamped earlier than the last one takes the last
// one's time), so that replay by time is a binary search. Retention by
// age and the redelivery of unacknowledged events are commands too
// (OpTrim, OpExpire), proposed by the voters' leader when its clock says
// they are due: every member trims and redelivers at the same point of
// the log.
//
// # Properties (given a log every member applies in the same order)
//
//   - S1: offsets of a topic are consecutive from its first: a publish
//     appends at the next offset, retention removes only a prefix, so a
//     reader that asks from the offset after its last event sees no gap
//     and no duplicate; every member returns the same event for an
//     offset.
//   - S2: an event stays until retention removes it (OpTrim, or the
//     topic's byte bound on a later publish); nothing else deletes.
//   - S3: a group hands an offset to one member at a time: a delivered
//     offset is pending with its member until acked, nacked or expired,
//     and only then handed out again, at most MaxDeliveries times in all.
//     The group's position is replicated, so it survives any member.
//   - S4: a read from an offset before the topic's first fails with
//     ErrTruncated; it never starts later than asked.
//   - A publish with an idempotency key already in the topic returns the
//     offset of the first publish and appends nothing.
//
// # Bounds
//
// A topic holds at most its MaxBytes of payload (the oldest events go
// first) and, once trimmed by age, nothing older than MaxAge; a group
// holds at most the topic's events as pending or to redeliver; the
// idempotency keys are those of events still held. Topics and groups are
// created by use and stay until deleted by OpDelete: the streams layer
// bounds how many there may be.
package eventlog
