// Package hlc implements hybrid logical clock arithmetic after Kulkarni,
// Demirbas, Madappa, Avva and Leone, "Logical Physical Clocks and Consistent
// Snapshots in Globally Distributed Databases" (OPODIS 2014).
//
// # Timestamps
//
// A Timestamp is a pair (Wall, Logical): Wall is nanoseconds since the Unix
// epoch and plays the role of the paper's l, Logical is the paper's c.
// Timestamps are ordered by Wall, then by Logical. On the wire a Timestamp is
// 12 bytes: Wall then Logical, both big-endian (AppendBinary, Decode).
//
// # The algorithm
//
// A Clock holds the last timestamp (l, c) it returned or accepted and reads a
// physical clock pt, injected as a function so that tests (and the
// simulation) can drive it.
//
// Send or local event (Now):
//
//	l' = max(l, pt)
//	c' = c+1 if l' == l, else 0
//
// Receive event (Update) of a message stamped (m.l, m.c):
//
//	l' = max(l, m.l, pt)
//	c' = max(c, m.c)+1  if l' == l == m.l
//	     c+1            if l' == l only
//	     m.c+1          if l' == m.l only
//	     0              if l' == pt only
//
// Both are computed as one step: take the larger of the last and the remote
// timestamp (the remote one only for Update); if pt is beyond its Wall the
// result is (pt, 0), else it is that timestamp with Logical plus one.
//
// # Guarantees
//
//   - Every timestamp a Clock returns is strictly greater than every timestamp
//     it returned or accepted before, across any interleaving of Now and
//     Update from any number of goroutines, and even if the physical clock
//     stands still or goes backwards. So a Clock's timestamps are unique.
//   - A timestamp returned by Update is strictly greater than the remote one:
//     causality (send happens before receive) is reflected in the order.
//   - Wall never falls behind the physical clock as read at the last call,
//     and exceeds it only because of timestamps received from other clocks
//     (bounded by maxForward when the check is enabled) or a Logical
//     overflow (below).
//
// # Hazards
//
//   - Logical overflow. Logical is 32 bits. If it would pass MaxUint32 (more
//     than four billion events within one nanosecond of Wall, which only a
//     frozen physical clock or a hostile peer can cause), Wall is advanced by
//     one nanosecond and Logical restarts at 0. Order and uniqueness are kept;
//     Wall then runs up to 1 ns ahead of the physical clock per overflow.
//   - A remote timestamp far in the future drags every later timestamp with
//     it: the clock cannot go back to physical time until physical time
//     catches up. Update therefore rejects (with ErrTooFarAhead, leaving the
//     clock unchanged) a remote timestamp whose Wall is more than maxForward
//     beyond the local physical clock. With maxForward <= 0 nothing is
//     rejected, and one bad peer can push the whole cluster into the future.
//   - Wall near math.MaxInt64 (the year 2262) cannot advance further: a
//     Logical overflow there would wrap. Only a remote timestamp can bring a
//     Clock there, which the maxForward check prevents.
//   - Timestamps are ordered, unique and causal; they are not an accurate
//     reading of time. Wall is at best as accurate as the physical clocks of
//     the nodes that exchanged messages.
package hlc
