// Package raftgroup runs one member of a Raft group on go.etcd.io/raft/v3
// (the Raft state machine as a library): storage is in memory (and, with
// Config.Dir, on disk as well), the transport and the replicated state
// machine are the caller's. It is the
// substrate of the voter core: a small set of voters agree on one log.
//
//	g, err := raftgroup.Start(raftgroup.Config{
//		ID:           1,
//		Voters:       []uint64{1, 2, 3}, // or none, to join an existing group
//		Transport:    t,                 // Send(msgs); inbound: g.Step(ctx, m)
//		StateMachine: sm,                // Apply, Snapshot, Restore
//	})
//	if err != nil { ... }
//	defer g.Close()
//	index, result, err := g.Propose(ctx, cmd)
//
// # How it works
//
// One goroutine (the loop) owns the RawNode. It ticks it from a
// time.Ticker (TickInterval, default 10 ms; so it runs in synctest
// virtual time), steps the messages Step queued, runs the calls of
// Propose and the others, and then handles every Ready: install a
// snapshot, append the entries to the MemoryStorage, record the
// HardState, hand the messages to Transport.Send, apply the committed
// entries, Advance. Every SnapshotEntries applied entries (and, after a
// snapshot of more than a MiB, no sooner than the entries since hold
// as many bytes, so that snapshotting a large state costs a bounded
// share of the work)
// it snapshots the state machine and compacts the log down to
// KeepEntries entries, so memory is bounded by the live state plus
// about SnapshotEntries + KeepEntries entries, or the state's size in
// entries if that is more. A member behind the compacted log gets the
// leader's snapshot (Restore). CheckQuorum and PreVote are on: a leader
// cut off from a majority steps down within an election timeout, and a
// member that comes back from a partition does not disrupt the group.
//
// Spare followers. A leader needs the acks of a majority, so with five
// voters two of the four followers' acks of each entry do not count. It
// keeps an eager set of the followers it needs (sticky: a member leaves
// it after HeartbeatTick+1 ticks without an answer) and holds its
// appends to the others, the spares, until the next tick, merging those
// that follow one another into one append; under load a spare gets one
// message a tick instead of one per entry. Delaying and merging
// messages cannot break Raft's safety (see spares.go for why a merged
// append is handled as the two in order); a spare's log may lag by a
// tick. Config.NoSpares turns it off.
//
// Proposals. Every entry the group proposes starts with a header naming
// its proposal: (member ID, seq), seq increasing per member. At apply
// time an entry is admitted only if its member is in the configuration
// and has had no later proposal admitted; the table of the highest
// admitted seq per member is replicated state (it travels in snapshots,
// and a member's row is dropped when it leaves the configuration). So a
// proposal duplicated by the transport is applied once, and once any
// later proposal of a member is admitted, none of its older ones can
// be: the member returns ErrDropped for those at once. To bound the wait
// for a proposal lost on its way (forwarded to a leader that crashed, or
// dropped by the transport; Raft does not retry proposals), the member
// proposes a no-op fence of its own when it sees a new leader while
// proposals wait, and after two election timeouts without progress.
// Followers forward proposals to the leader (raft's forwarding), so
// Propose works on every member; it returns once this member applied the
// entry, with the index and what Apply returned here.
//
// Configuration changes (ProposeConfChange) are served by the leader
// only: there the group can check a change against the applied
// configuration as raft will (raft panics on every member when it
// applies an invalid change) and see at once whether raft refused it
// because another change is pending. A change of more than one member
// uses joint consensus and leaves the joint configuration automatically;
// the call returns once it is left. A new member starts empty (Config
// without Voters), is added as a learner (ConfChangeAddLearnerNode),
// catches up from the log or a snapshot (Status.CaughtUp on the
// leader's Status), then is promoted (ConfChangeAddNode). When a change
// adds a member, every member takes a snapshot right away (if its log
// was ever compacted): raft refuses to install a snapshot whose
// configuration does not name the receiver, and an older snapshot would
// make the leader send it again and again.
//
// # Guarantees
//
//   - G1: writes are linearizable. An entry is applied when a majority
//     of the configuration holds it; Propose returns after that, and
//     after this member applied it. A read that must be linearizable
//     goes through Propose too (Apply returns the value).
//   - G2: every member applies the same entries in the same order, each
//     at most once; an entry a member skips is in the snapshot it
//     installed instead (Restore), so each entry's effect is in every
//     member's state exactly once. Apply may assume log order, one call
//     at a time, never concurrently with Snapshot or Restore.
//   - G3: a Propose that returns nil was applied exactly once. ErrDropped
//     (and ErrNoLeader) means it was not applied and never will be, on
//     any member: proposing again is safe. ctx's error and
//     ErrUnknownOutcome mean either may have happened.
//   - G4: Propose and ProposeConfChange return by their ctx; a proposal
//     lost in a leader change returns ErrDropped within about two
//     election timeouts once a leader is known.
//   - G5: the state survives any sequence of one-at-a-time member
//     replacements (add a learner, let it catch up, promote it, remove
//     an old member), as long as a majority of the configuration lives
//     throughout.
//
// # Hazards
//
//   - Without a Dir, storage is in memory. A member that restarts has
//     lost its log and its votes: it must join again under a new ID,
//     added by the group, never under its old one (it could vote twice
//     in a term, or count toward a majority for entries it no longer
//     holds). An ID that was removed must never be added back either:
//     its proposal table row is gone, so an old duplicate of its
//     proposal could be admitted. With a Dir, a member started again on
//     it goes on under its ID as the member it was (disk.go: its HardState
//     and entries are fsynced before the messages that depend on them are
//     sent); a Dir must never be copied, shared or given to another ID,
//     and one whose member was removed must be emptied first.
//   - Losing a majority of the voters at once loses the group if they
//     have no Dir: the survivors cannot commit or change the
//     configuration, and no member holds anything durable to recover
//     from. Rebuilding a group from a survivor's state is the caller's
//     job. Members with a Dir that all stop (a whole-cluster restart)
//     and start again go on as the group they were, once a majority of
//     the configuration is back.
//   - The Transport is trusted. Step refuses messages that are
//     malformed in ways that would make raft panic (a proposal carrying
//     a configuration change, local message types, wrong addressee),
//     but a peer that lies in well-formed messages can corrupt the log:
//     authenticate peers below this package.
//   - Apply, Snapshot and Restore run on the loop: a slow one stalls the
//     member (ticks, heartbeats, elections); calling the Group from them
//     deadlocks. A Restore error stops the member (Done, Err).
//   - A member that installs a snapshot cannot tell the outcome of its
//     own proposals the snapshot covers (ErrUnknownOutcome); KeepEntries
//     makes that rare by letting slightly late members catch up from the
//     log.
//   - A proposal reordered behind a later one of the same member (a
//     transport that reorders) is refused: ErrDropped, retry.
//
// A Group is safe for concurrent use. It starts no goroutine but its
// loop, which Close stops and waits for.
package raftgroup
