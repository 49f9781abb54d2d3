package raftgroup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// follower is a bare RawNode of member 2 in a group of three, fed
// appends by hand.
type follower struct {
	t    *testing.T
	rn   *raft.RawNode
	st   *raft.MemoryStorage
	last *raftpb.Message // the last answer to an append
}

func newFollower(t *testing.T) *follower {
	st := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{ID: 2, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Logger: raftLogger{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}); err != nil {
		t.Fatal(err)
	}
	f := &follower{t: t, rn: rn, st: st}
	f.ready()
	return f
}

func (f *follower) step(m *raftpb.Message) {
	if err := f.rn.Step(m); err != nil {
		f.t.Fatalf("Step: %v", err)
	}
	f.ready()
}

func (f *follower) ready() {
	for f.rn.HasReady() {
		rd := f.rn.Ready()
		if err := f.st.Append(rd.Entries); err != nil {
			f.t.Fatal(err)
		}
		if rd.HardState != nil {
			if err := f.st.SetHardState(rd.HardState); err != nil {
				f.t.Fatal(err)
			}
		}
		for _, e := range rd.CommittedEntries {
			if cc, err := decodeConfChange(e); err == nil && e.GetType() != raftpb.EntryNormal {
				f.rn.ApplyConfChange(cc)
			}
		}
		for _, m := range rd.Messages {
			if m.GetType() == raftpb.MsgAppResp {
				f.last = m
			}
		}
		f.rn.Advance(rd)
	}
}

// state is what a follower's handling of appends decides: its log, its
// commit index and its last answer.
func (f *follower) state() string {
	last, _ := f.st.LastIndex()
	first, _ := f.st.FirstIndex()
	ents, err := f.st.Entries(first, last+1, 1<<30)
	if err != nil {
		f.t.Fatal(err)
	}
	var terms []uint64
	for _, e := range ents {
		terms = append(terms, e.GetTerm())
	}
	answer := fmt.Sprint("index ", f.last.GetIndex())
	if f.last.GetReject() {
		answer = "a refusal" // naming the refused append's index, which a merge moves
	}
	return fmt.Sprintf("last %d terms %v commit %d answer %s", last, terms, f.rn.Status().GetCommit(), answer)
}

// appends cuts a leader's log of n entries after the three of the
// bootstrap (term 1) into appends of term 3, some of them empty, with
// commit indexes that never go back.
func appends(r *rand.Rand, n int) []*raftpb.Message {
	var ents []*raftpb.Entry
	term := uint64(2)
	for i := range n {
		if i == n/2 {
			term = 3
		}
		ents = append(ents, &raftpb.Entry{Term: ptr(term), Index: ptr(uint64(4 + i)), Data: []byte{byte(i)}})
	}
	termAt := func(index uint64) uint64 {
		if index <= 3 {
			return 1
		}
		return ents[index-4].GetTerm()
	}
	var msgs []*raftpb.Message
	next, commit := uint64(4), uint64(3)
	for next < uint64(4+n) {
		k := r.IntN(4) // 0: a commit notice
		k = min(k, 4+n-int(next))
		if commit < next-1 && r.IntN(2) == 0 {
			commit += uint64(r.IntN(int(next-1-commit)) + 1)
		}
		msgs = append(msgs, &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: ptr(uint64(1)), To: ptr(uint64(2)),
			Term: ptr(uint64(3)), Index: ptr(next - 1), LogTerm: ptr(termAt(next - 1)),
			Entries: ents[next-4 : next-4+uint64(k)], Commit: ptr(commit)})
		next += uint64(k)
	}
	return msgs
}

// TestMergedAppendsAsInOrder checks the claim spares rest on: a follower
// that handles the merge of appends ends where handling them one by one
// takes it, with the same answer to the last one; also when it misses
// the first (it refuses both ways and appends nothing).
func TestMergedAppendsAsInOrder(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		msgs := appends(r, 1+r.IntN(20))
		skip := 0
		if seed%5 == 4 && len(msgs) > 1 && len(msgs[0].GetEntries()) > 0 {
			skip = 1 // the first append is lost
		}
		one := newFollower(t)
		for _, m := range msgs[skip:] {
			one.step(m)
		}
		var merged []*raftpb.Message
		for _, m := range msgs[skip:] {
			if n := len(merged); n > 0 && r.IntN(4) != 0 {
				mm := mergeApps(merged[n-1], m)
				if mm == nil {
					t.Fatalf("seed %d: appends that follow one another not merged: %v then %v", seed, merged[n-1], m)
				}
				merged[n-1] = mm
				continue
			}
			merged = append(merged, m)
		}
		two := newFollower(t)
		for _, m := range merged {
			two.step(m)
		}
		if a, b := one.state(), two.state(); a != b {
			t.Fatalf("seed %d: one by one: %s; merged (%d of %d appends): %s", seed, a, len(merged), len(msgs)-skip, b)
		}
	}
}

func TestMergeAppsRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var msgs []*raftpb.Message
	for len(msgs) < 3 || len(msgs[0].GetEntries()) == 0 {
		msgs = appends(r, 12)
	}
	a, b := msgs[0], msgs[1]
	if mergeApps(a, b) == nil {
		t.Fatal("the first two appends not merged")
	}
	for name, b := range map[string]*raftpb.Message{
		"a gap":          msgs[2],
		"itself again":   a,
		"another term":   with(b, func(m *raftpb.Message) { m.Term = ptr(b.GetTerm() + 1) }),
		"another member": with(b, func(m *raftpb.Message) { m.To = ptr(uint64(3)) }),
		"a heartbeat":    with(b, func(m *raftpb.Message) { m.Type = raftpb.MsgHeartbeat.Enum() }),
		"another prev term": with(b, func(m *raftpb.Message) {
			m.LogTerm = ptr(b.GetLogTerm() + 1)
		}),
	} {
		if mergeApps(a, b) != nil {
			t.Errorf("merged with %s", name)
		}
	}
}

func with(m *raftpb.Message, f func(*raftpb.Message)) *raftpb.Message {
	c := &raftpb.Message{Type: m.Type, From: m.From, To: m.To, Term: m.Term, LogTerm: m.LogTerm,
		Index: m.Index, Entries: m.Entries, Commit: m.Commit}
	f(c)
	return c
}

// appCounter counts the appends each member receives.
type appCounter struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (c *appCounter) drop(_ uint64, m *raftpb.Message) bool {
	if m.GetType() == raftpb.MsgApp {
		c.mu.Lock()
		c.n[m.GetTo()]++
		c.mu.Unlock()
	}
	return false
}

func (c *appCounter) take() map[uint64]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[uint64]int{}
	return n
}

// proposeTimed proposes k entries one after another at the leader and
// returns how long each took (virtual time).
func proposeTimed(t *testing.T, g *Group, k int) []time.Duration {
	t.Helper()
	var took []time.Duration
	for i := range k {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := g.Propose(ctx, fmt.Appendf(nil, "e%d", i))
		cancel()
		if err != nil {
			t.Fatalf("Propose %d: %v", i, err)
		}
		took = append(took, time.Since(start))
	}
	return took
}

// TestSparesHeldBack: with five voters the leader sends each append at
// once to two followers (a majority with itself), and only a message
// a tick to the other two; entries commit without waiting for a tick;
// every member ends with the same log. With NoSpares every follower
// gets every append.
func TestSparesHeldBack(t *testing.T) {
	for _, noSpares := range []bool{false, true} {
		t.Run(fmt.Sprint("NoSpares=", noSpares), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, 5, func(cfg *Config) { cfg.NoSpares = noSpares })
				defer c.close()
				lead := c.waitLeader(c.ids(), 5*time.Second)
				proposeTimed(t, c.groups[lead], 1) // every follower answered once
				count := &appCounter{n: map[uint64]int{}}
				c.net.setDrop(count.drop)
				const k = 200
				took := proposeTimed(t, c.groups[lead], k)
				for i, d := range took {
					if d > 0 {
						t.Errorf("proposal %d waited %v (virtual): it waited for a tick", i, d)
					}
				}
				c.waitConverged(5 * time.Second)
				n := count.take()
				var got []int
				for id, k := range n {
					if id != lead {
						got = append(got, k)
					}
				}
				slices.Sort(got)
				t.Logf("appends per follower: %v", got)
				if len(got) != 4 || got[2] < k || (!noSpares && got[1] > 5) || (noSpares && got[0] < k) {
					t.Errorf("appends per follower %v; want two with at least %d and two with a few (NoSpares: all four with %d)", got, k, k)
				}
			})
		})
	}
}

// TestSpareReplacesSilentEager: when an eager follower stops answering,
// entries commit with a spare's answer at the next tick until, within
// HeartbeatTick+1 ticks, a spare takes its place; after that they commit
// at once again.
func TestSpareReplacesSilentEager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 5, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 5*time.Second)
		proposeTimed(t, c.groups[lead], 1)
		count := &appCounter{n: map[uint64]int{}}
		c.net.setDrop(count.drop)
		proposeTimed(t, c.groups[lead], 20)
		var eager uint64
		for id, k := range count.take() {
			if id != lead && k >= 20 {
				eager = id
				break
			}
		}
		if eager == 0 {
			t.Fatal("no follower got every append")
		}
		c.net.isolate(eager)
		took := proposeTimed(t, c.groups[lead], 30)
		t.Logf("isolated eager member %d; each proposal took %v", eager, took)
		var waited time.Duration
		for _, d := range took {
			waited += d
		}
		if waited > 5*DefaultTickInterval {
			t.Errorf("proposals waited %v in all: the spare did not take over within a few ticks", waited)
		}
		for i, d := range took[10:] {
			if d > 0 {
				t.Errorf("proposal %d waited %v after the swap", 10+i, d)
			}
		}
	})
}
