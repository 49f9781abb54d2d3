package leases

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

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
