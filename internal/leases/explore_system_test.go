package leases

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

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
