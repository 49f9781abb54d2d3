// Package clock gives the nodes of a gossipsync cluster one notion of
// time, with an honest error bound, without an NTP or TrueTime server.
//
//	clk, err := clock.New(node)
//	if err != nil { ... }
//	defer clk.Close()
//	now, err := clk.Now()          // cluster time; never goes backwards here
//	iv, err := clk.Interval()      // true cluster time lies in [iv.Earliest, iv.Latest]
//	ts := clk.Timestamp()          // hybrid logical clock: unique and causal
//
// # Cluster time
//
// Cluster time is the time of the reference: the leader of the election
// group ReferenceGroup, in which every Clock campaigns. The first
// reference serves its physical clock. A later reference serves the
// cluster time it was tracking when it took over, so time does not jump
// at failover; it tells the others how far its time may lie from its
// predecessor's (its uncertainty then), and they widen their bounds by
// that much.
//
// Every other node samples the reference every SyncInterval with a
// Cristian exchange over RPC: four timestamps, T1 and T4 on its own
// physical clock, T2 and T3 on the reference's cluster time. The offset is
// ((T2-T1)+(T3-T4))/2 and, whatever the asymmetry of the delays, the truth
// lies within RTT/2 of it. A sample's bound then widens by MaxDrift times
// its age, and a node keeps the intersection of the bounds of its last
// eight samples. A sample that contradicts them (a clock drifting faster
// than MaxDrift, or stepped) is rejected, unless three in a row do: then
// the node starts over from the newest.
//
// # Guarantees
//
//   - C1: Interval contains the time of the reference the node samples,
//     as long as both physical clocks stay within MaxDrift of each other
//     (default 2000 ppm, i.e. each within ±1000 ppm). After a change of
//     reference, until the node's next sample (one SyncInterval), the new
//     reference's time may lie outside by up to the new reference's
//     uncertainty at takeover.
//   - C2: Now never goes backwards on a node (a Clock, in one process).
//     After a correction it stands still until cluster time catches
//     up. Nothing keeps cluster time across a stop of every node at
//     once: it starts again from the new reference's physical clock,
//     which may be behind the last reading before the stop.
//   - C3: after sync, two nodes' readings differ by at most the sum of
//     their uncertainties (it follows from C1).
//   - Readings fail with ErrUnsynced before the first good sample (Synced
//     closes then), and
//     when the uncertainty passes MaxUncertainty (default 100 ms): a node
//     cut off from the reference keeps serving time while its drift
//     allowance stays below the bound (50 s at the defaults), then fails.
//   - Timestamp is a hybrid logical clock: strictly increasing on a node,
//     carried on every RPC frame, so an event that caused another has a
//     smaller timestamp. Its wall part follows cluster time; an unsynced
//     node counts only logically (and takes any stamp it receives, having
//     no time to judge it by), so a node with a wrong physical clock
//     cannot drag the cluster's timestamps ahead. A synced node ignores a
//     stamp more than a minute ahead of its cluster time.
//   - The reference is kept while it lives (a higher-ranked node does not
//     depose it). A node that lost the reference, or withdrew from the
//     campaign, waits half to one SyncInterval before campaigning again.
//     The first node of a new cluster becomes the reference only after
//     hearing of none for two lease periods (2 s on Local, 10 s on LAN),
//     and reads ErrUnsynced until then.
//
// # Blocking
//
// No reading waits for the network: Now, Interval, Timestamp and Stats
// read this node's state under a mutex that no network call holds, so
// they answer at once while a sample is outstanding, the link is lossy or
// the reference is unreachable (they fail with ErrUnsynced once the
// bound passes MaxUncertainty). Synced is a channel. None of them takes
// a ctx, having no deadline to keep. Close is bounded: see Close.
//
// # Hazards
//
//   - A node that is not in sync does not campaign while a reference is
//     known; if a cluster loses every synced node, the next reference
//     starts a new timeline from its physical clock, and the others start
//     over (their Now stands still if the new time is behind).
//   - A node runs one Clock (it installs the node's Stamper): New on a
//     node whose Clock is open fails with ErrClockExists.
//   - Clocks that drift faster than MaxDrift break C1; set MaxDrift for
//     your hardware. Skew (a constant offset) costs nothing.
package clock
