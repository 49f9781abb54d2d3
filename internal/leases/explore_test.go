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
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
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

// The system.

type choiceKind uint8

const (
	chDeliver choiceKind = iota
	chDuplicate
	chDrop
	chCampaign
	chPropose
	chReconf
	chExpire
	chWait
)

type choice struct {
	kind choiceKind
	msg  string // the message's encoding (deliver, duplicate, drop)
	node uint64 // the member (campaign, propose, reconf, expire)
	who  int    // the claimant (propose)
	op   Op     // the claimant's command (propose)
}

func (c choice) String() string {
	switch c.kind {
	case chDeliver, chDuplicate, chDrop:
		return fmt.Sprintf("%s %s", [...]string{"deliver", "duplicate", "drop"}[c.kind], describeMsg(c.msg))
	case chCampaign:
		return fmt.Sprintf("%d campaigns", c.node)
	case chPropose:
		return fmt.Sprintf("%c proposes %v at %d", 'A'+c.who, c.op, c.node)
	case chReconf:
		return fmt.Sprintf("%d proposes the reconfiguration", c.node)
	case chExpire:
		return fmt.Sprintf("%d proposes its expiries", c.node)
	case chWait:
		return "time passes"
	}
	return "?"
}

// A member is a function of its inputs: it is rebuilt, when the search
// goes back to an earlier state, by replaying them from scratch.
type inputKind uint8

const (
	inStep inputKind = iota
	inCampaign
	inPropose
	inConfChange
)

type input struct {
	kind inputKind
	now  int64  // the step it came at: the time its Readies apply at
	data []byte // a message's encoding, or a proposal's data
	cc   *pb.ConfChangeV2
}

type simNode struct {
	id       uint64
	rn       *raft.RawNode
	st       *raft.MemoryStorage
	m        machine
	conf     *pb.ConfState // the applied configuration
	applied  uint64
	seq      uint64 // proposals made here
	snapData string // the data of the storage's snapshot
	inputs   []input
	seen     map[propID]bool // proposals applied here (for the statistics)

	hashed int      // len(inputs) when static was computed (-1: never)
	static [16]byte // hash of the member's state but for its clock
}

type propID struct{ node, seq uint64 }

type proposal struct {
	claimant int // -1: a member's expiry
	op       Op
	floor    uint64 // L2: the highest token reported to another holder before it
	returned bool   // its result was returned at the proposing member
}

type phase uint8

const (
	idle      phase = iota
	claiming        // a claim is out
	holding         // won; maybe a renewal is out
	releasing       // a release is out
)

type claimant struct {
	acq      uint64 // acquisition (a lock holder's Handle)
	phase    phase
	token    uint64
	call     propID // the command it waits for (zero: none)
	callAt   int64  // when it sent it
	leaseEnd int64  // counts on its grant until then (exclusive)
	props    int
}

type grantOf struct {
	key    string
	holder Holder
}

// world is the system but its members: the network, the claimants and
// the checkers' history. It is copied to go back to an earlier state.
type world struct {
	now      int64
	flight   map[string]int
	cl       [2]claimant
	props    map[propID]proposal
	reported map[Holder]uint64  // L2: the highest token reported to each holder
	tokens   map[uint64]grantOf // L1: what each token was granted as
	atIndex  map[uint64]string  // agreement: the table after each applied index

	campaigns, expiries, reconfs, dups, drops int
	violation                                 string
}

func (w *world) clone() world {
	c := *w
	c.flight = maps.Clone(w.flight)
	c.props = maps.Clone(w.props)
	c.reported = maps.Clone(w.reported)
	c.tokens = maps.Clone(w.tokens)
	c.atIndex = maps.Clone(w.atIndex)
	return c
}

type system struct {
	cfg   *exploreConfig
	nodes []*simNode // by ID; [0] is nil
	world
	stats map[string]int // what the explored steps did (nil: not counted)
}

func (s *system) count(what string) {
	if s.stats != nil {
		s.stats[what]++
	}
}

// savedState is what restore needs to go back to a state.
type savedState struct {
	w      world
	inputs []int      // each member's number of inputs
	static [][16]byte // each member's hash, to check its rebuild
}

func (s *system) save() savedState {
	sv := savedState{w: s.world.clone()}
	for _, n := range s.nodes {
		if n == nil {
			sv.inputs, sv.static = append(sv.inputs, 0), append(sv.static, [16]byte{})
			continue
		}
		sv.inputs, sv.static = append(sv.inputs, len(n.inputs)), append(sv.static, s.staticHash(n))
	}
	return sv
}

// restore goes back to the saved state: the world is copied back, and
// every member that had inputs since is rebuilt from scratch by
// replaying its inputs up to then. It returns the number rebuilt.
func (s *system) restore(sv savedState, fatal func(string, ...any)) int {
	s.world = sv.w.clone()
	rebuilt := 0
	for id := 1; id < len(s.nodes); id++ {
		ins := s.nodes[id].inputs[:sv.inputs[id]]
		if len(s.nodes[id].inputs) == len(ins) {
			continue
		}
		n := s.newNode(uint64(id))
		for _, in := range ins {
			s.feed(n, in, false)
		}
		n.inputs = ins
		if s.staticHash(n) != sv.static[id] {
			fatal("member %d rebuilt from its %d inputs is not the member it was: the system is not deterministic", id, len(ins))
		}
		s.nodes[id] = n
		rebuilt++
	}
	return rebuilt
}

// quietLogger discards raft's logs without formatting them; it panics
// as raft's DefaultLogger does.
type quietLogger struct{}

func (quietLogger) Debug(...any)                   {}
func (quietLogger) Debugf(string, ...any)          {}
func (quietLogger) Info(...any)                    {}
func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Warning(...any)                 {}
func (quietLogger) Warningf(string, ...any)        {}
func (quietLogger) Error(...any)                   {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatal(v ...any)                 { panic(fmt.Sprint(v...)) }
func (quietLogger) Fatalf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
func (quietLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (quietLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// initialTable is the founded, empty table in every voter's initial
// snapshot.
var initialTable = func() []byte {
	t := New()
	t.Apply([]Cmd{{Op: OpFound}}, time.Unix(0, 0))
	b, err := t.Snapshot()
	if err != nil {
		panic(err)
	}
	return b
}()

// newNode returns member id as it starts: a voter of {1, 2, 3} from a
// snapshot at index 1 holding a founded empty table, or (4) empty.
func (s *system) newNode(id uint64) *simNode {
	st := raft.NewMemoryStorage()
	var m machine
	if s.cfg.newMachine != nil {
		m = s.cfg.newMachine(id)
	} else {
		m = New()
	}
	n := &simNode{id: id, st: st, m: m, conf: &pb.ConfState{}, hashed: -1}
	if id <= 3 {
		n.conf = &pb.ConfState{Voters: []uint64{1, 2, 3}}
		must(st.ApplySnapshot(&pb.Snapshot{Data: initialTable, Metadata: &pb.SnapshotMetadata{
			ConfState: n.conf, Index: new(uint64(1)), Term: new(uint64(1)),
		}}))
		must(st.SetHardState(&pb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))}))
		must(m.Restore(initialTable, time.Unix(0, 0)))
		n.snapData, n.applied = string(initialTable), 1
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, StepDownOnRemoval: true,
		Logger: quietLogger{},
	})
	must(err)
	n.rn = rn
	return n
}

func newSystem(cfg *exploreConfig) *system {
	s := &system{cfg: cfg, world: world{
		flight: map[string]int{}, props: map[propID]proposal{},
		reported: map[Holder]uint64{}, tokens: map[uint64]grantOf{}, atIndex: map[uint64]string{},
	}}
	n := uint64(3)
	if cfg.reconf == reconfAdd {
		n = 4
	}
	s.nodes = make([]*simNode, n+1)
	for id := uint64(1); id <= n; id++ {
		s.nodes[id] = s.newNode(id)
	}
	// The setup: 1 is elected, and the network delivers every message
	// (so every member has the leader's empty entry, committed, and the
	// leader replicates to each).
	must(s.feed(s.nodes[1], input{kind: inCampaign}, true))
	for len(s.flight) > 0 {
		s.deliver(slices.Min(slices.Collect(maps.Keys(s.flight))), true)
	}
	if st := s.nodes[1].rn.BasicStatus(); st.RaftState != raft.StateLeader || st.GetCommit() != 2 {
		panic("setup: 1 is not the leader")
	}
	return s
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (s *system) at() time.Time { return time.Unix(0, s.now) }

func (s *system) holder(who int) Holder {
	if s.cfg.election {
		return Holder{Node: fmt.Sprintf("n%c", 'a'+who), Owner: "cand", Priority: 1 + who}
	}
	return Holder{Node: fmt.Sprintf("n%c", 'a'+who), Owner: "mgr", Handle: s.cl[who].acq + 1}
}

// next returns the commands claimant who may propose next.
func (s *system) next(who int) []Cmd {
	c := &s.cl[who]
	if c.props >= s.cfg.maxProposals {
		return nil
	}
	h := s.holder(who)
	switch c.phase {
	case idle, claiming:
		return []Cmd{{Op: OpClaim, Key: s.cfg.key, Holder: h, TTL: time.Duration(s.cfg.ttl), Preempt: s.cfg.election}}
	case holding:
		rel := Cmd{Op: OpRelease, Key: s.cfg.key, Holder: h, Token: c.token}
		if s.cfg.election {
			return []Cmd{rel, {Op: OpRenew, Key: s.cfg.key, Holder: h, Token: c.token, TTL: time.Duration(s.cfg.ttl)}}
		}
		return []Cmd{rel}
	case releasing:
		return []Cmd{{Op: OpRelease, Key: s.cfg.key, Holder: h, Token: c.token}}
	}
	return nil
}

// expiriesOf returns the expiries member n would propose at step t.
func (s *system) expiriesOf(n *simNode, t int64) []Cmd {
	var out []Cmd
	for _, c := range n.m.Expired(time.Unix(0, t)) {
		if c.Key == s.cfg.key {
			out = append(out, c)
		}
	}
	return out
}

// reconfChange returns the next configuration change, if leader n may
// propose it now.
func (s *system) reconfChange(n *simNode) *pb.ConfChangeV2 {
	if raftField(n.rn, "pendingConfIndex").Uint() > n.applied {
		return nil // raft would turn it into an empty entry
	}
	single := func(t pb.ConfChangeType, id uint64) *pb.ConfChangeV2 {
		return &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: t.Enum(), NodeId: new(id)}}}
	}
	switch {
	case s.cfg.reconf == reconfRemove && s.reconfs == 0 && slices.Contains(n.conf.GetVoters(), 3):
		return single(pb.ConfChangeRemoveNode, 3)
	case s.cfg.reconf == reconfAdd && s.reconfs == 0 && !slices.Contains(n.conf.GetLearners(), 4) && !slices.Contains(n.conf.GetVoters(), 4):
		return single(pb.ConfChangeAddLearnerNode, 4)
	case s.cfg.reconf == reconfAdd && s.reconfs == 1 && slices.Contains(n.conf.GetLearners(), 4):
		return single(pb.ConfChangeAddNode, 4)
	}
	return nil
}

// choices lists what the scheduler may do next.
func (s *system) choices() []choice {
	var out []choice
	if s.cfg.timed {
		out = append(out, choice{kind: chWait})
	}
	for _, k := range slices.Sorted(maps.Keys(s.flight)) {
		out = append(out, choice{kind: chDeliver, msg: k})
		if s.dups < s.cfg.maxDuplicates {
			out = append(out, choice{kind: chDuplicate, msg: k})
		}
		if s.drops < s.cfg.maxDrops {
			out = append(out, choice{kind: chDrop, msg: k})
		}
	}
	for _, n := range s.nodes[1:] {
		st := n.rn.BasicStatus()
		if s.campaigns < s.cfg.maxCampaigns && st.RaftState != raft.StateLeader && slices.Contains(n.conf.GetVoters(), n.id) {
			out = append(out, choice{kind: chCampaign, node: n.id})
		}
		if st.Lead == raft.None {
			continue // raft drops proposals
		}
		for who := range s.cl {
			if s.cfg.propose < 2 && st.RaftState != raft.StateLeader && (s.cfg.propose == 0 || n.id != uint64(2+who)) {
				continue
			}
			for _, c := range s.next(who) {
				out = append(out, choice{kind: chPropose, node: n.id, who: who, op: c.Op})
			}
		}
		if s.expiries < s.cfg.maxExpiries && len(s.expiriesOf(n, s.now+1)) > 0 { // at the step's time
			out = append(out, choice{kind: chExpire, node: n.id})
		}
		if st.RaftState == raft.StateLeader && s.reconfChange(n) != nil {
			out = append(out, choice{kind: chReconf, node: n.id})
		}
	}
	return out
}

// do makes choice c, one step of logical time; false if it did nothing.
func (s *system) do(c choice) bool {
	s.now++
	switch c.kind {
	case chWait:
	case chDeliver:
		if s.flight[c.msg] == 0 {
			return false
		}
		s.deliver(c.msg, true)
	case chDuplicate:
		if s.flight[c.msg] == 0 || s.dups >= s.cfg.maxDuplicates {
			return false
		}
		s.deliver(c.msg, false)
		s.dups++
	case chDrop:
		if s.flight[c.msg] == 0 || s.drops >= s.cfg.maxDrops {
			return false
		}
		s.take(c.msg)
		s.drops++
	case chCampaign:
		n := s.nodes[c.node]
		term := n.rn.BasicStatus().GetTerm()
		if err := s.feed(n, input{kind: inCampaign, now: s.now}, true); err != nil || n.rn.BasicStatus().GetTerm() == term {
			return false
		}
		s.campaigns++
	case chPropose:
		var cmd *Cmd
		for _, x := range s.next(c.who) {
			if x.Op == c.op {
				cmd = &x
			}
		}
		if cmd == nil || !s.propose(s.nodes[c.node], c.who, []Cmd{*cmd}) {
			return false
		}
	case chExpire:
		n := s.nodes[c.node]
		cmds := s.expiriesOf(n, s.now)
		if len(cmds) == 0 || s.expiries >= s.cfg.maxExpiries || !s.propose(n, -1, cmds) {
			return false
		}
		s.expiries++
	case chReconf:
		n := s.nodes[c.node]
		cc := s.reconfChange(n)
		if cc == nil || n.rn.BasicStatus().RaftState != raft.StateLeader {
			return false
		}
		if err := s.feed(n, input{kind: inConfChange, now: s.now, cc: cc}, true); err != nil {
			return false
		}
		s.reconfs++
	}
	if s.cfg.timed {
		s.checkLeases()
	}
	if s.cl[0].phase == holding && s.cl[1].phase == holding {
		s.count("both claimants hold a grant")
	}
	return true
}

func (s *system) take(k string) {
	if s.flight[k]--; s.flight[k] == 0 {
		delete(s.flight, k)
	}
}

// deliver steps the message encoded as k at its recipient; consume
// takes it out of the network, else a copy stays in flight.
func (s *system) deliver(k string, consume bool) {
	if consume {
		s.take(k)
	}
	to, _ := protowire.ConsumeVarint(toField(k))
	s.feed(s.nodes[to], input{kind: inStep, now: s.now, data: []byte(k)}, true)
}

// msgType returns a message's type (field 1, a varint).
func msgType(k string) pb.MessageType {
	num, typ, n := protowire.ConsumeTag([]byte(k))
	if n < 0 || num != 1 || typ != protowire.VarintType {
		panic("a message that does not start with its type")
	}
	v, _ := protowire.ConsumeVarint([]byte(k)[n:])
	return pb.MessageType(v)
}

// toField returns the encoding of a message's To (field 2, a varint).
func toField(k string) []byte {
	b := []byte(k)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if num == 2 && typ == protowire.VarintType {
			return b
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			break
		}
		b = b[n:]
	}
	panic("a message without To")
}

// feed gives member n an input and handles its Readies. Live, the input
// is recorded and its effects on the world made; rebuilding (!live),
// only the member changes.
func (s *system) feed(n *simNode, in input, live bool) error {
	if live {
		n.inputs = append(n.inputs, in)
	}
	var err error
	switch in.kind {
	case inStep:
		m := &pb.Message{}
		must(proto.Unmarshal(in.data, m))
		_ = n.rn.Step(m) // errors: a response from a member it does not know
	case inCampaign:
		err = n.rn.Campaign()
	case inPropose:
		if err = n.rn.Propose(in.data); err == nil {
			n.seq++
		}
	case inConfChange:
		err = n.rn.ProposeConfChange(proto.Clone(in.cc).(*pb.ConfChangeV2))
	}
	for n.rn.HasReady() {
		s.handleReady(n, in.now, live)
	}
	return err
}

func (s *system) propose(n *simNode, who int, cmds []Cmd) bool {
	id := propID{n.id, n.seq + 1}
	payload, err := msgpack.Marshal(cmds)
	must(err)
	data := binary.AppendUvarint(binary.AppendUvarint(nil, id.node), id.seq)
	if err := s.feed(n, input{kind: inPropose, now: s.now, data: append(data, payload...)}, true); err != nil {
		return false
	}
	p := proposal{claimant: who, op: cmds[0].Op}
	defer func() { s.props[id] = p }()
	if who < 0 {
		return true
	}
	c := &s.cl[who]
	c.props++
	c.call, c.callAt = id, s.now
	switch cmds[0].Op {
	case OpClaim:
		c.phase = claiming
		for h, t := range s.reported {
			if h != cmds[0].Holder {
				p.floor = max(p.floor, t)
			}
		}
	case OpRelease:
		c.phase = releasing
		c.leaseEnd = min(c.leaseEnd, s.now) // it stops counting on the grant
	}
	return true
}

func decodeEntry(data []byte) (propID, []Cmd, error) {
	node, n := binary.Uvarint(data)
	if n <= 0 {
		return propID{}, nil, fmt.Errorf("bad header")
	}
	seq, m := binary.Uvarint(data[n:])
	if m <= 0 {
		return propID{}, nil, fmt.Errorf("bad header")
	}
	var cmds []Cmd
	err := msgpack.Unmarshal(data[n+m:], &cmds)
	return propID{node, seq}, cmds, err
}

func (s *system) handleReady(n *simNode, now int64, live bool) {
	at := time.Unix(0, now)
	rd := n.rn.Ready()
	if live && rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader && now > 0 {
		s.count("leader elected")
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		must(n.st.ApplySnapshot(rd.Snapshot))
		n.snapData = string(rd.Snapshot.GetData())
		if err := n.m.Restore(rd.Snapshot.GetData(), at); err != nil && live {
			s.fail("member %d: restore of the snapshot at %d: %v", n.id, rd.Snapshot.GetMetadata().GetIndex(), err)
		}
		n.conf = rd.Snapshot.GetMetadata().GetConfState()
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
		if live {
			s.agree(n)
			if _, held, _ := n.m.Get(s.cfg.key, at); held {
				s.count("snapshot with a grant installed")
			} else {
				s.count("snapshot installed")
			}
		}
	}
	must(n.st.Append(rd.Entries))
	if rd.HardState != nil {
		must(n.st.SetHardState(rd.HardState))
	}
	var snaps []uint64
	for _, m := range rd.Messages {
		if live {
			b, err := marshalOpts.Marshal(m)
			must(err)
			s.flight[string(b)]++
		}
		if m.GetType() == pb.MsgSnap {
			snaps = append(snaps, m.GetTo())
		}
	}
	for _, e := range rd.CommittedEntries {
		s.apply(n, e, at, live)
	}
	n.rn.Advance(rd)
	for _, to := range snaps {
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
}

func (s *system) apply(n *simNode, e *pb.Entry, at time.Time, live bool) {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.GetData()) == 0 {
			break // a new leader's empty entry
		}
		id, cmds, err := decodeEntry(e.GetData())
		if err != nil {
			if live {
				s.fail("member %d: entry %d: %v", n.id, e.GetIndex(), err)
			}
			break
		}
		res := n.m.Apply(cmds, at)
		if live {
			if n.seen[id] {
				s.count("a proposal's entry applied twice")
			}
			s.results(n, id, cmds, res)
		}
		if n.seen == nil {
			n.seen = map[propID]bool{}
		}
		n.seen[id] = true
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		must(proto.Unmarshal(e.GetData(), &cc))
		n.conf = n.rn.ApplyConfChange(&cc)
		if live {
			s.count(fmt.Sprintf("%v %d applied", cc.GetChanges()[0].GetType(), cc.GetChanges()[0].GetNodeId()))
		}
		if cc.GetChanges()[0].GetType() == pb.ConfChangeAddLearnerNode {
			// As raftgroup: a member was added, so snapshot now (the
			// log was compacted before: the initial snapshot).
			data, err := n.m.Snapshot()
			must(err)
			_, err = n.st.CreateSnapshot(e.GetIndex(), n.conf, data)
			must(err)
			must(n.st.Compact(e.GetIndex()))
			n.snapData = string(data)
		}
	default:
		if live {
			s.fail("member %d: unexpected entry type %v", n.id, e.GetType())
		}
	}
	n.applied = e.GetIndex()
	if live {
		s.agree(n)
	}
}

func (s *system) fail(format string, args ...any) {
	if s.violation == "" {
		s.violation = fmt.Sprintf(format, args...)
	}
}

// agree checks that n's table after its applied index is the one every
// other member had after that index.
func (s *system) agree(n *simNode) {
	st := canonical(n.m)
	if prev, ok := s.atIndex[n.applied]; ok && prev != st {
		s.fail("agreement: member %d's table after index %d is %s; another member's was %s",
			n.id, n.applied, st, prev)
		return
	}
	s.atIndex[n.applied] = st
}

// results checks a batch's results on member n (L1, L2), and returns
// them to the claimant if n proposed it.
func (s *system) results(n *simNode, id propID, cmds []Cmd, res []Result) {
	p, known := s.props[id]
	for i, c := range cmds {
		r := res[i]
		switch {
		case c.Op == OpClaim && !r.OK:
			s.count("claim refused")
		case c.Op == OpClaim && s.tokens[r.Token] == grantOf{c.Key, c.Holder}:
			s.count("claim answered with the grant it had")
		case c.Op == OpClaim:
			s.count("grant")
		case c.Op == OpRenew && r.Preempt:
			s.count("renewal told to step down")
		case r.OK:
			s.count(c.Op.String())
		}
		if c.Op != OpClaim || !r.OK {
			continue
		}
		g := grantOf{c.Key, c.Holder}
		prop := "L1"
		if strings.HasPrefix(c.Key, "e/") {
			prop = "E1"
		}
		if prev, ok := s.tokens[r.Token]; ok && prev != g {
			s.fail("%s: token %d granted to %+v for %q on member %d, and before to %+v for %q",
				prop, r.Token, c.Holder, c.Key, n.id, prev.holder, prev.key)
		}
		s.tokens[r.Token] = g
		if known && p.floor > 0 {
			s.count("grant checked against one reported before its claim (L2)")
		}
		if known && r.Token <= p.floor {
			s.fail("%c2: claim %v by %+v got token %d on member %d, but token %d was reported to another holder before it was proposed",
				prop[0], id, c.Holder, r.Token, n.id, p.floor)
		}
	}
	if !known || id.node != n.id || p.returned {
		return
	}
	p.returned = true
	s.props[id] = p
	for i, c := range cmds {
		if c.Op == OpClaim && res[i].OK {
			s.reported[c.Holder] = max(s.reported[c.Holder], res[i].Token)
		}
	}
	if p.claimant < 0 {
		return
	}
	cl := &s.cl[p.claimant]
	if cl.call != id {
		return // a call it gave up on (it retried)
	}
	cl.call = propID{}
	r := res[0]
	switch p.op {
	case OpClaim:
		if r.OK {
			cl.phase, cl.token = holding, r.Token
			cl.leaseEnd = max(cl.leaseEnd, cl.callAt+s.cfg.ttl)
		} else {
			cl.phase = idle
		}
	case OpRenew:
		if r.OK {
			cl.leaseEnd = max(cl.leaseEnd, cl.callAt+s.cfg.ttl)
		} else { // the grant is gone
			cl.phase, cl.token, cl.acq = idle, 0, cl.acq+1
			cl.leaseEnd = min(cl.leaseEnd, s.now)
		}
	case OpRelease:
		cl.phase, cl.token, cl.acq = idle, 0, cl.acq+1
	}
}

// checkLeases checks L3: no two claimants count on a grant at once.
func (s *system) checkLeases() {
	a, b := &s.cl[0], &s.cl[1]
	if a.phase == holding && b.phase == holding && a.leaseEnd > s.now && b.leaseEnd > s.now {
		prop := "L3"
		if s.cfg.election {
			prop = "E3"
		}
		s.fail("%s: at %d, A counts on token %d until %d and B on token %d until %d",
			prop, s.now, a.token, a.leaseEnd, b.token, b.leaseEnd)
	}
}

// canonical is a table's replicated state: what Snapshot encodes, in a
// readable form, with the records sorted by key (Snapshot's order
// follows map iteration). It reads the *Table inside m directly, for
// speed.
func canonical(m machine) string {
	t := m.(interface{ inner() *Table }).inner()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := make([]byte, 0, 128)
	b = fmt.Appendf(b, "{founded %v last %d quiet %v", t.founded, t.last, t.quiet)
	for _, k := range slices.Sorted(maps.Keys(t.recs)) {
		r := t.recs[k]
		b = fmt.Appendf(b, "; %q %s/%s/%d/%d token %d ttl %d seq %d", k, r.holder.Node, r.holder.Owner, r.holder.Handle, r.holder.Priority, r.token, r.ttl, r.seq)
		if p := r.preempt; p != nil {
			b = fmt.Appendf(b, " preempted by %s/%s/%d/%d", p.Node, p.Owner, p.Handle, p.Priority)
		}
	}
	return string(append(b, '}'))
}

// inner gives the explorer the table inside a machine; the broken ones
// embed a *Table.
func (t *Table) inner() *Table { return t }

func describeMsg(k string) string {
	m := &pb.Message{}
	if err := proto.Unmarshal([]byte(k), m); err != nil {
		return "?"
	}
	s := fmt.Sprintf("%v %d→%d term %d", m.GetType(), m.GetFrom(), m.GetTo(), m.GetTerm())
	switch m.GetType() {
	case pb.MsgApp:
		s += fmt.Sprintf(" after %d/%d, %d entries, commit %d", m.GetIndex(), m.GetLogTerm(), len(m.GetEntries()), m.GetCommit())
	case pb.MsgAppResp:
		s += fmt.Sprintf(" index %d", m.GetIndex())
		if m.GetReject() {
			s += fmt.Sprintf(" rejected (hint %d)", m.GetRejectHint())
		}
	case pb.MsgVoteResp:
		if m.GetReject() {
			s += " rejected"
		}
	case pb.MsgProp:
		s += fmt.Sprintf(" %d entries", len(m.GetEntries()))
	case pb.MsgSnap:
		s += fmt.Sprintf(" at %d", m.GetSnapshot().GetMetadata().GetIndex())
	case pb.MsgHeartbeat:
		s += fmt.Sprintf(" commit %d", m.GetCommit())
	}
	return s
}

func (s *system) describe(c choice) string {
	if c.kind == chPropose {
		for _, x := range s.next(c.who) {
			if x.Op == c.op {
				return fmt.Sprintf("%c proposes %v %+v token %d at %d", 'A'+c.who, x.Op, x.Holder, x.Token, c.node)
			}
		}
	}
	return c.String()
}

func (s *system) String() string {
	var b strings.Builder
	for _, n := range s.nodes[1:] {
		st := n.rn.BasicStatus()
		fmt.Fprintf(&b, "[%d %v term %d applied %d table %s] ", n.id, st.RaftState, st.GetTerm(), n.applied, canonical(n.m))
	}
	for i, c := range s.cl {
		fmt.Fprintf(&b, "%c: phase %d token %d until %d; ", 'A'+i, c.phase, c.token, c.leaseEnd)
	}
	return b.String()
}

// raftField reads an unexported field of the RawNode's raft.
func raftField(rn *raft.RawNode, name string) reflect.Value {
	r := reflect.ValueOf(rn).Elem().FieldByName("raft")
	if !r.IsValid() {
		panic("raft.RawNode has no field raft: update raftField for this raft version")
	}
	f := r.Elem().FieldByName(name)
	if !f.IsValid() {
		panic("raft has no field " + name + ": update the explorer for this raft version")
	}
	return f
}

// hash summarizes everything that decides the system's future and the
// checkers' verdicts. Times are relative to now, so that states reached
// at different depths compare. Without the network, it leaves out the
// messages in flight and the counts of duplicates and drops.
func (s *system) hash(network bool) [16]byte {
	b := make([]byte, 0, 1024)
	u := func(vs ...uint64) {
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
	}
	str := func(x string) { u(uint64(len(x))); b = append(b, x...) }
	holder := func(h Holder) { str(h.Node); str(h.Owner); u(h.Handle, uint64(h.Priority)) }
	rel := func(t int64) uint64 { return uint64(max(t-s.now, 0)) }
	for _, n := range s.nodes[1:] {
		st := s.staticHash(n)
		b = append(b, st[:]...)
		if s.expiries < s.cfg.maxExpiries { // how long it holds the grant: when it may propose the expiry
			g, held, _ := n.m.Get(s.cfg.key, s.at())
			u(b2u(held), uint64(g.Remaining))
		}
	}
	if network {
		for _, k := range slices.Sorted(maps.Keys(s.flight)) {
			str(k)
			u(uint64(s.flight[k]))
		}
		u(uint64(s.dups), uint64(s.drops))
	}
	for _, c := range s.cl {
		u(c.acq, uint64(c.phase), c.token, c.call.node, c.call.seq, uint64(c.props))
		if s.cfg.timed { // when its lease would end
			u(uint64(min(s.now-c.callAt, s.cfg.ttl)), rel(c.leaseEnd))
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(s.props), func(a, b propID) int {
		return cmp.Or(cmp.Compare(a.node, b.node), cmp.Compare(a.seq, b.seq))
	}) {
		p := s.props[id]
		u(id.node, id.seq, uint64(p.claimant+1), uint64(p.op), p.floor, b2u(p.returned))
	}
	for _, h := range slices.SortedFunc(maps.Keys(s.reported), CompareRank) {
		holder(h)
		u(s.reported[h])
	}
	for _, t := range slices.Sorted(maps.Keys(s.tokens)) {
		u(t)
		str(s.tokens[t].key)
		holder(s.tokens[t].holder)
	}
	u(uint64(s.campaigns), uint64(s.expiries), uint64(s.reconfs))
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// staticHash summarizes member n but for its clock (how long its table
// holds the grant, which hash adds): raft's state (with the unexported
// fields that decide what it does next), its log and snapshot, and its
// table's replicated state. It depends on the member's inputs only, so
// it is kept until the next one.
func (s *system) staticHash(n *simNode) [16]byte {
	if n.hashed == len(n.inputs) {
		return n.static
	}
	b := make([]byte, 0, 1024)
	u := func(vs ...uint64) {
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
	}
	str := func(x string) { u(uint64(len(x))); b = append(b, x...) }
	st := n.rn.BasicStatus()
	u(n.id, st.GetTerm(), st.GetVote(), st.GetCommit(), st.Lead, uint64(st.RaftState), st.Applied, n.applied, n.seq)
	for _, ids := range [][]uint64{n.conf.GetVoters(), n.conf.GetLearners(), n.conf.GetVotersOutgoing(), n.conf.GetLearnersNext()} {
		u(uint64(len(ids)))
		u(ids...)
	}
	if st.RaftState == raft.StateLeader { // only a leader's progress is used
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			u(id, pr.Match, pr.Next, uint64(pr.State), pr.PendingSnapshot, b2u(pr.RecentActive), b2u(pr.MsgAppFlowPaused),
				b2u(pr.IsLearner), reflect.ValueOf(pr).FieldByName("sentCommit").Uint())
			// Inflights (nil here) never fill: MaxInflightMsgs is 256.
		})
		u(raftField(n.rn, "pendingConfIndex").Uint())
	}
	if st.RaftState == raft.StateCandidate { // only a candidate's votes are used
		var vs []uint64
		for it := raftField(n.rn, "trk").FieldByName("Votes").MapRange(); it.Next(); {
			vs = append(vs, it.Key().Uint()<<1|b2u(it.Value().Bool()))
		}
		slices.Sort(vs)
		u(uint64(len(vs)))
		u(vs...)
	}
	first, _ := n.st.FirstIndex()
	last, _ := n.st.LastIndex()
	t, err := n.st.Term(first - 1) // the snapshot's
	must(err)
	u(first, last, t)
	str(n.snapData)
	if last >= first {
		ents, err := n.st.Entries(first, last+1, 1<<62)
		must(err)
		for _, e := range ents {
			u(e.GetTerm(), uint64(e.GetType()))
			str(string(e.GetData()))
		}
	}
	str(canonical(n.m))
	sum := sha256.Sum256(b)
	n.hashed, n.static = len(n.inputs), [16]byte(sum[:16])
	return n.static
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// The tests.

func TestExplore(t *testing.T) {
	for _, cfg := range exploreScenarios() {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			res := explore(cfg, t.Fatalf)
			t.Logf("%s, depth %d: %d states, %d sequences (%d pruned), %d members rebuilt, in %v", cfg.name,
				cfg.depth, res.states, res.sequences, res.pruned, res.rebuilds, time.Since(start).Round(time.Millisecond))
			var stats []string
			for _, k := range slices.Sorted(maps.Keys(res.stats)) {
				stats = append(stats, fmt.Sprintf("%s: %d", k, res.stats[k]))
			}
			t.Logf("steps taken that did: %s", strings.Join(stats, "; "))
			if res.violation != "" {
				t.Fatalf("%s\n%s", res.violation, strings.Join(res.trace, "\n"))
			}
			if res.deepest != cfg.depth {
				t.Fatalf("the search went %d deep, not %d", res.deepest, cfg.depth)
			}
		})
	}
}

// brokenReuse reuses tokens: a release or expiry gives its token back.
type brokenReuse struct{ *Table }

func (b brokenReuse) Apply(cmds []Cmd, now time.Time) []Result {
	res := b.Table.Apply(cmds, now)
	for i, c := range cmds {
		if (c.Op == OpRelease || c.Op == OpExpire) && res[i].OK {
			b.mu.Lock()
			b.last--
			b.mu.Unlock()
		}
	}
	return res
}

// brokenPerMember restarts tokens at each member: its first command
// moves its counter to a base of its own.
type brokenPerMember struct {
	*Table
	id uint64
}

func (b brokenPerMember) Apply(cmds []Cmd, now time.Time) []Result {
	b.mu.Lock()
	if b.last == 0 {
		b.last = 100 * b.id
	}
	b.mu.Unlock()
	return b.Table.Apply(cmds, now)
}

// brokenSteal grants a held key to a claim by another holder.
type brokenSteal struct{ *Table }

func (b brokenSteal) Apply(cmds []Cmd, now time.Time) []Result {
	var out []Result
	for _, c := range cmds {
		if g, held, _ := b.Get(c.Key, now); c.Op == OpClaim && held && g.Holder != c.Holder {
			b.Table.Apply([]Cmd{{Op: OpRelease, Key: c.Key, Holder: g.Holder}}, now)
		}
		out = append(out, b.Table.Apply([]Cmd{c}, now)...)
	}
	return out
}

func TestExploreFindsBrokenTables(t *testing.T) {
	base := exploreConfig{key: "l/k", ttl: 6, propose: 0, maxProposals: 2, stopAtFirst: true}
	for _, c := range []struct {
		name  string
		depth int
		timed bool
		m     func(id uint64) machine
		want  string
	}{
		{"tokens reused after a release", 9, false, func(uint64) machine { return brokenReuse{New()} }, "L1"},
		{"tokens restart at each member", 5, false, func(id uint64) machine { return brokenPerMember{New(), id} }, "agreement"},
		{"a held key granted to another", 6, true, func(uint64) machine { return brokenSteal{New()} }, "L3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.name, cfg.depth, cfg.timed, cfg.newMachine = c.name, c.depth, c.timed, c.m
			start := time.Now()
			res := explore(cfg, t.Fatalf)
			t.Logf("%d states, %d sequences in %v", res.states, res.sequences, time.Since(start).Round(time.Millisecond))
			if res.violation == "" {
				t.Fatalf("no violation found within %d steps", c.depth)
			}
			t.Logf("found: %s\n%s", res.violation, strings.Join(res.trace, "\n"))
			if !strings.HasPrefix(res.violation, c.want) {
				t.Fatalf("found %q, want a %s violation", res.violation, c.want)
			}
		})
	}
}

// TestExploreDeterministic replays random choice sequences and checks
// that each replay reaches the same state at every step: the premise of
// exploring by replay.
func TestExploreDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cfg := range exploreScenarios() {
		cfg.maxCampaigns, cfg.maxProposals, cfg.maxExpiries = 3, 6, 2
		for range 20 {
			s := newSystem(&cfg)
			var path []choice
			var hashes [][16]byte
			for len(path) < 40 {
				cs := s.choices()
				if len(cs) == 0 {
					break
				}
				c := cs[rng.IntN(len(cs))]
				if !s.do(c) {
					t.Fatalf("%v offered but did nothing", c)
				}
				if s.violation != "" {
					t.Fatalf("%s after %v", s.violation, path)
				}
				path = append(path, c)
				hashes = append(hashes, s.hash(true))
			}
			r := newSystem(&cfg)
			for i, c := range path {
				if !r.do(c) || r.hash(true) != hashes[i] {
					t.Fatalf("%s: replay differs at step %d (%v)", cfg.name, i+1, c)
				}
			}
		}
	}
}

// TestExploreDropIsSubsumed checks, on a small bound, why the scenarios
// offer no drops: a drop only takes a message out of the network, and
// leaving it in flight, never delivered, does the same to every member
// and claimant while keeping every later choice open. So what the
// members reach with drops, they reach without, in no more steps (with
// logical time out of the state, as in the untimed scenarios). The
// explorer collects the states but for the network both ways, and
// those with drops must be among those without.
func TestExploreDropIsSubsumed(t *testing.T) {
	cfg := exploreConfig{
		name: "drops", key: "l/k", reconf: reconfRemove, ttl: 4, depth: 5,
		propose: 1, maxProposals: 2, maxCampaigns: 1, maxDuplicates: 1,
	}
	if raceEnabled || testing.Short() {
		cfg.depth = 4
	}
	reach := func(drops int) map[[16]byte]bool {
		c := cfg
		c.maxDrops = drops
		e := &explorer{cfg: c, seen: map[[16]byte]int{}, fatal: t.Fatalf, members: map[[16]byte]bool{}}
		e.run()
		if e.res.violation != "" {
			t.Fatalf("with %d drops: %s\n%s", drops, e.res.violation, strings.Join(e.res.trace, "\n"))
		}
		t.Logf("with up to %d drops: %d states, %d member states, %d sequences", drops, e.res.states, len(e.members), e.res.sequences)
		return e.members
	}
	without, with := reach(0), reach(2)
	for h := range with {
		if !without[h] {
			t.Fatalf("a state reached with drops (%x) is not reached without", h)
		}
	}
}

// TestExploreRetriedClaim follows one schedule, too deep for the
// exhaustive bounds, through the same system: A's claim wins but its
// answer is slow; A claims again (a retry, answered with the grant) and
// counts its lease from then; the leader's hold of the grant runs out,
// counted from the first claim's apply; the leader proposes the expiry,
// and B claims. Before 4159ca1 the retry did not renew the grant, the
// expiry freed it, and B won while A still counted on it (L3). Now the
// retry renews it: the leader has no expiry to propose, and B is
// refused.
func TestExploreRetriedClaim(t *testing.T) {
	cfg := exploreConfig{name: "retried claim", key: "l/k", ttl: 8, timed: true, depth: 18, propose: 1, maxProposals: 2, maxExpiries: 1}
	s := newSystem(&cfg)
	// msg picks the delivery of a message of type typ from from to to (an
	// append with entries); with last, only the one with the highest
	// index among them.
	msg := func(typ pb.MessageType, from, to uint64, last bool) func(choice) bool {
		match := func(c choice) (uint64, bool) {
			if c.kind != chDeliver {
				return 0, false
			}
			m := &pb.Message{}
			must(proto.Unmarshal([]byte(c.msg), m))
			return m.GetIndex(), m.GetType() == typ && m.GetFrom() == from && m.GetTo() == to && (typ != pb.MsgApp || len(m.GetEntries()) > 0)
		}
		return func(c choice) bool {
			i, ok := match(c)
			if !ok || !last {
				return ok
			}
			for _, o := range s.choices() {
				if j, ok := match(o); ok && j > i {
					return false
				}
			}
			return true
		}
	}
	first := func(typ pb.MessageType, from, to uint64) func(choice) bool { return msg(typ, from, to, false) }
	is := func(want choice) func(choice) bool { return func(c choice) bool { return c == want } }
	wait := is(choice{kind: chWait})
	steps := []struct {
		what     string
		pick     func(choice) bool
		optional bool
	}{
		{"A claims at 2", is(choice{kind: chPropose, node: 2, who: 0, op: OpClaim}), false},
		{"2 forwards it to 1", first(pb.MsgProp, 2, 1), false},
		{"1 appends it at 3", first(pb.MsgApp, 1, 3), false},
		{"3 acks: 1 applies the grant (A has no answer yet)", first(pb.MsgAppResp, 3, 1), false},
		{"time passes", wait, false}, {"time passes", wait, false}, {"time passes", wait, false},
		{"time passes", wait, false}, {"time passes", wait, false}, {"time passes", wait, false},
		{"A claims again at 1", is(choice{kind: chPropose, node: 1, who: 0, op: OpClaim}), false},
		{"1 appends the retry at 3", first(pb.MsgApp, 1, 3), false},
		{"3 acks: 1 answers A with its grant", first(pb.MsgAppResp, 3, 1), false},
		{"1 proposes the expiry of its hold", is(choice{kind: chExpire, node: 1}), true},
		{"B claims at 1", is(choice{kind: chPropose, node: 1, who: 1, op: OpClaim}), false},
		{"1 appends at 3", first(pb.MsgApp, 1, 3), false},
		{"1 appends at 3", first(pb.MsgApp, 1, 3), true},
		{"3 acks all: 1 applies them and answers B", msg(pb.MsgAppResp, 3, 1, true), false},
	}
	expired := true
	for i, st := range steps {
		var pick *choice
		for _, c := range s.choices() {
			if st.pick(c) {
				pick = &c
				break
			}
		}
		if pick == nil {
			if !st.optional {
				t.Fatalf("step %d (%s): not a choice now: %v\n%s", i+1, st.what, s.choices(), s)
			}
			t.Logf("%2d. %s: not a choice", i+1, st.what)
			if i == 13 {
				expired = false
			}
			continue
		}
		t.Logf("%2d. %s: %v", i+1, st.what, *pick)
		if !s.do(*pick) {
			t.Fatalf("step %d (%s) did nothing", i+1, st.what)
		}
		if s.violation != "" {
			t.Fatalf("step %d (%s): %s\n%s", i+1, st.what, s.violation, s)
		}
	}
	t.Logf("state: %s", s)
	if expired || s.cl[0].phase != holding || s.cl[1].phase != idle || s.cl[0].leaseEnd <= s.now {
		t.Fatalf("A should hold and count on its grant, B be refused, and no expiry proposed: expiry %v, %s", expired, s)
	}
}
