// The exhaustive small-scope exploration of the lease table replicated
// by Raft.
//
// # What is explored
//
// A system of real etcd Raft state machines (go.etcd.io/raft/v3 RawNode
// on raft.NewMemoryStorage; CheckQuorum and PreVote off, StepDownOnRemoval
// on, no ticks): 3 voters, and in the scenario that adds one an empty 4th
// member. Each member applies the committed entries, in log order, to
// its own lease table (a machine: the real *Table, or a broken one in
// TestExploreFindsBrokenTables). An entry's data is a small header
// naming its proposal (the proposing member and a sequence number of
// that member, as raftgroup's header does), then a msgpack []Cmd; the
// header lets the proposing member return the result of its own
// proposal. Entries are not deduplicated: a proposal the network
// duplicates is applied twice, and the table must absorb it.
//
// Two claimants, A and B, contend for one key ("l/k" for a lock, "e/g"
// for an election group). A claimant claims; while its claim has not
// returned it may propose it again (a retry: the same command); once it
// returned OK it holds the grant, may renew it (election), and releases
// it with its token; after a release it starts a new acquisition (a
// lock holder takes a new Handle). A member whose table lists the grant
// as unrenewed for its hold (Expired) may propose that OpExpire. Time is
// logical: the step counter, handed to the tables as time.Unix(0, step),
// so holds and expiries are deterministic.
//
// The scheduler's choices at each step: deliver one in-flight message,
// duplicate it (deliver it and keep a copy), or drop it; let a voter
// campaign (rn.Campaign: an election happens only as a choice); let a
// claimant propose its next command at a member (at a leader, or also
// at its own member, A at 2 and B at 3, which forwards it); let a
// leader propose the reconfiguration (remove voter 3; or add member 4
// as a learner, then promote it: ConfChangeV2, applied by every member
// with ApplyConfChange; applying the learner's addition, a member
// snapshots its table and compacts its log as raftgroup does, so the
// learner is caught up by a snapshot and Restore); let a member propose
// the expiry its table lists; in timed scenarios, let time pass. A
// choice that does nothing (a proposal raft drops, a campaign raft
// ignores) is not a step. Before the search, voter 1 is elected and
// every message delivered (this setup is not counted in the depth).
//
// Every sequence of choices up to the depth bound is explored, depth
// first. RawNodes cannot be cloned, so the search goes back to a state by
// replay from scratch: the system is a deterministic function of its
// choices (no ticks, so raft's randomized election timeout is never
// drawn; its logger is silent; messages travel as deterministic protobuf
// encodings; the tables get the logical time), and since a step changes
// at most one member, each member keeps the inputs it was given (the
// messages it stepped, its campaigns and proposals, with their times),
// and going back rebuilds, from a new RawNode, storage and table, each
// member that had an input since, by replaying its inputs; the rest of
// the state (network, claimants, checkers' history) is copied. Every
// rebuilt member is checked to hash as it did (TestExploreDeterministic
// also replays random sequences whole).
//
// # Pruning and reductions
//
// A state is hashed from what decides its future and the checkers'
// verdicts: each member's HardState, role, leader, applied index and
// configuration, a leader's progress of each follower (with raft's
// unexported sentCommit) and its pending configuration index, a
// candidate's votes (both read by reflection), its log (terms, types and
// data) and snapshot, its table's replicated state; the in-flight
// multiset; the claimants; the proposals, grants and reports the
// checkers remember. Times enter relative to now, and only where they
// matter: how long each member still holds the grant while an expiry
// may be proposed, and the claimants' lease times in timed scenarios. A
// state seen at an equal or smaller depth is not explored again.
//
// Two reductions lose no violation within the bound: the last step is
// taken only if it can apply an entry or a snapshot (every property is
// about what members apply and claimants are told, which nothing else
// changes); and drops are not offered (a dropped message could as well
// stay in flight, never delivered: the members reach the same states,
// in no more steps; TestExploreDropIsSubsumed checks this on a small
// bound). Beyond the depth, each scenario caps the campaigns,
// duplicates, proposals per claimant and expiries, and where claimants
// propose.
//
// # What is checked, in every state reached
//
//   - L1 (E1 for "e/g"): a token names one grant: every OK claim result
//     (returned at the proposing member, or applied anywhere) maps its
//     token to one (key, holder).
//   - L2 (E2): a grant reported to its claimant (an OK claim result
//     returned at the proposing member) before a claim by another
//     holder was proposed has a smaller token than any grant that claim
//     gets.
//   - L3 (timed scenarios): no two claimants count on a grant at once. A
//     claimant counts from the return of an OK claim or renewal until TTL
//     after it sent that command, and stops when it sends its release or
//     learns the grant is gone.
//   - Agreement: members that applied the same index have tables in the
//     same replicated state (what Snapshot encodes, records sorted by key:
//     Snapshot's order follows map iteration).
//
// # The bound
//
// exploreScenarios lists the scenarios and their caps. The default run
// explores every choice sequence, after the setup (itself 13 choices: a
// campaign and 12 deliveries), of up to
//
//   - 7 steps for a lock contended across a leader change and the
//     removal of a voter (about 234,000 sequences, 154,000 states);
//   - 7 for a lock with one proposal or append duplicated (243,000;
//     148,000);
//   - 8 for a lock whose grant may expire, timed, with L3 (229,000;
//     87,000);
//   - 8 for an election group while a member is added as a learner,
//     caught up by a snapshot, and promoted (259,000; 142,000):
//
// about 45 s of CPU, so about 25 s on 2 idle cores (a sequence costs
// about 45 µs, most of it rebuilding a member). Each further step
// multiplies the cost by 3 to 5. -short takes a step off, -race two
// (explore_race_test.go: about 15 s), and LEASES_EXPLORE_DEPTH=+n adds
// n for a longer run. Each run logs its numbers, and counts what the
// steps it took did (grants, refusals, retries answered, releases,
// expiries, leaders elected, snapshots installed, ...), to show what
// the bound reaches.
//
// TestExploreFindsBrokenTables plugs broken tables into the same
// explorer and requires it to find their violations, and
// TestExploreRetriedClaim follows one schedule past the bound (a
// retried claim, then an expiry, then a rival's claim) that broke L3
// before 4159ca1.

package leases

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// machine is what a member applies its log to: *Table, or a broken
// stand-in.
type machine interface {
	Apply(cmds []Cmd, now time.Time) []Result
	Snapshot() ([]byte, error)
	Restore(data []byte, now time.Time) error
	Expired(now time.Time) []Cmd
	Get(key string, now time.Time) (Grant, bool, uint64)
}

type reconfKind uint8

const (
	reconfNone   reconfKind = iota
	reconfRemove            // remove voter 3
	reconfAdd               // add 4 as a learner, then promote it
)

type exploreConfig struct {
	name     string
	key      string
	election bool // candidates with priorities: claims preempt, holders renew
	reconf   reconfKind
	ttl      int64 // logical steps
	depth    int   // choices after the setup
	timed    bool  // L3 is checked, and a step may be a wait (time passes, nothing else)
	propose  int   // where claimants propose: 0 at a leader, 1 also at their own member (A: 2, B: 3), 2 anywhere

	maxProposals  int // per claimant
	maxCampaigns  int
	maxDuplicates int // messages delivered and kept in flight
	maxDrops      int // messages dropped
	maxExpiries   int

	newMachine  func(id uint64) machine // nil: the real table
	stopAtFirst bool
}

// exploreScenarios are the explorations the default run makes. Their
// bounds are for a normal run; -short takes one step off, -race two,
// and LEASES_EXPLORE_DEPTH=+n adds n (for a longer run).
func exploreScenarios() []exploreConfig {
	scs := []exploreConfig{{
		// Contention across a leader change and the removal of a voter.
		name: "lock/leader-change+remove-voter", key: "l/k", reconf: reconfRemove, ttl: 4,
		depth: 7, propose: 1, maxProposals: 2, maxCampaigns: 1,
	}, {
		// A proposal or an append delivered twice.
		name: "lock/duplicates", key: "l/k", ttl: 4,
		depth: 7, propose: 1, maxProposals: 2, maxDuplicates: 1,
	}, {
		// A grant expired while contended, on the logical clock.
		name: "lock/expiry", key: "l/k", ttl: 3, timed: true,
		depth: 8, propose: 0, maxProposals: 2, maxExpiries: 1,
	}, {
		// Candidates that preempt and renew while a member is added:
		// a learner caught up by a snapshot, then promoted.
		name: "election/add-member", key: "e/g", election: true, reconf: reconfAdd, ttl: 6,
		depth: 8, propose: 0, maxProposals: 2,
	}}
	extra := 0
	if v := os.Getenv("LEASES_EXPLORE_DEPTH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			panic("LEASES_EXPLORE_DEPTH: " + err.Error())
		}
		extra = n
	}
	for i := range scs {
		switch {
		case raceEnabled:
			scs[i].depth -= 2
		case testing.Short():
			scs[i].depth--
		}
		scs[i].depth += extra
	}
	return scs
}

// The explorer.

type exploreResult struct {
	states    int // distinct states reached
	sequences int // choice sequences executed (edges of the search)
	pruned    int // sequences that reached a state seen at a smaller or equal depth
	rebuilds  int // members rebuilt by replaying their inputs from scratch
	skipped   int // last steps not taken: they apply nothing, so they cannot break a property
	deepest   int
	violation string
	trace     []string       // the choices that led to the violation
	stats     map[string]int // what the explored steps did
}

type explorer struct {
	cfg   exploreConfig
	seen  map[[16]byte]int
	path  []choice
	res   exploreResult
	stats map[string]int
	fatal func(format string, args ...any)
	// members, if set, collects the states reached but for the
	// network (TestExploreDropIsSubsumed); every last step is taken.
	members map[[16]byte]bool
}

func explore(cfg exploreConfig, fatal func(string, ...any)) exploreResult {
	e := &explorer{cfg: cfg, seen: map[[16]byte]int{}, fatal: fatal, stats: map[string]int{}}
	e.run()
	e.res.stats = e.stats
	return e.res
}

func (e *explorer) run() {
	s := newSystem(&e.cfg)
	if s.violation != "" {
		e.fatal("violation in the setup: %s", s.violation)
	}
	s.stats = e.stats
	e.seen[s.hash(true)] = 0
	if e.members != nil {
		e.members[s.hash(false)] = true
	}
	e.res.states = 1
	e.dfs(s, 0)
}

// dfs explores the choices from s, the state at the end of e.path[:d].
// It returns true to stop the search. It leaves s in any state.
func (e *explorer) dfs(s *system, d int) bool {
	at := s.save()
	moved := false // s is no longer at
	for _, c := range s.choices() {
		if d+1 == e.cfg.depth && !mayApply(c) && e.members == nil {
			e.res.skipped++
			continue
		}
		if moved {
			e.res.rebuilds += s.restore(at, e.fatal)
		}
		moved = true
		e.path = append(e.path[:d], c)
		if !s.do(c) {
			continue
		}
		if e.members != nil {
			e.members[s.hash(false)] = true
		}
		e.res.sequences++
		e.res.deepest = max(e.res.deepest, d+1)
		if s.violation != "" {
			if e.res.violation == "" {
				e.res.violation = s.violation
				e.res.trace = e.describe(d + 1)
			}
			if e.cfg.stopAtFirst {
				return true
			}
			continue
		}
		h := s.hash(true)
		if old, ok := e.seen[h]; ok && old <= d+1 {
			e.res.pruned++
			continue
		} else if !ok {
			e.res.states++
		}
		e.seen[h] = d + 1
		if d+1 < e.cfg.depth && e.dfs(s, d+1) {
			return true
		}
	}
	return false
}

// mayApply tells whether choice c may make a member apply an entry or a
// snapshot: the only steps after which a property is checked anew (a
// report, which may start a claimant's lease, is an apply). Campaigns
// and proposals append, and with two voters or more do not commit in
// the same step; votes and forwarded proposals do not commit either.
func mayApply(c choice) bool {
	if c.kind != chDeliver && c.kind != chDuplicate {
		return false
	}
	switch msgType(c.msg) {
	case pb.MsgApp, pb.MsgAppResp, pb.MsgSnap, pb.MsgHeartbeat:
		return true
	}
	return false
}

// describe replays the first n choices of the path from scratch and
// says what each did.
func (e *explorer) describe(n int) []string {
	s := newSystem(&e.cfg)
	var out []string
	for i, c := range e.path[:n] {
		desc := s.describe(c)
		s.do(c)
		out = append(out, fmt.Sprintf("%2d. %s", i+1, desc))
	}
	out = append(out, "state: "+s.String())
	return out
}
