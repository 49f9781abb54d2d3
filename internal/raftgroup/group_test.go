package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// electionTimeout is the default election timeout: ElectionTick ticks.
const electionTimeout = DefaultElectionTick * DefaultTickInterval

// TestReplicate: three members elect a leader and apply 1,000 proposals,
// made concurrently on every member (followers forward), in the same
// order everywhere; each Propose returns its entry's index and the
// result its member's Apply returned; the log is compacted as it goes.
// A member that falls behind the compacted log installs a snapshot and
// cannot tell the outcome of its proposals the snapshot covers
// (ErrUnknownOutcome): each of those is applied at most once.
func TestReplicate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.KeepEntries = 200, 100 })
		defer c.close()
		c.waitLeader(c.ids(), 2*time.Second)

		type result struct {
			data          string
			member, index uint64
			position      int // 0: outcome unknown
		}
		const proposers, each = 10, 100
		results := make([][]result, proposers)
		var wg sync.WaitGroup
		for p := range proposers {
			g := c.groups[uint64(p%3+1)]
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf("p%d-%d", p, i)
					index, res, err := g.Propose(context.Background(), []byte(data))
					r := result{data: data, member: g.ID(), index: index}
					switch {
					case errors.Is(err, ErrUnknownOutcome):
					case err != nil:
						t.Errorf("Propose(%s) on %d: %v", data, g.ID(), err)
						return
					default:
						r.position = res.(int)
					}
					results[p] = append(results[p], r)
				}
			})
		}
		wg.Wait()
		log := c.waitConverged(2 * time.Second)
		positions := map[string]int{}
		for i, e := range log {
			if _, dup := positions[e.Data]; dup {
				t.Errorf("%s applied twice", e.Data)
			}
			positions[e.Data] = i + 1
		}
		unknown, lost := 0, 0
		for p := range proposers {
			prev := 0
			for _, r := range results[p] {
				pos, ok := positions[r.data]
				switch {
				case r.position == 0:
					unknown++
					if !ok {
						lost++
						continue
					}
				case pos != r.position || log[pos-1].Index != r.index:
					t.Errorf("Propose(%s) on %d returned index %d, position %d; the log holds it at %d, index %d",
						r.data, r.member, r.index, r.position, pos, log[pos-1].Index)
				}
				if pos <= prev {
					t.Errorf("proposer %d: %s applied at %d, before its predecessor at %d", p, r.data, pos, prev)
				}
				prev = pos
			}
		}
		if len(log) != proposers*each-lost {
			t.Errorf("applied %d entries, want %d", len(log), proposers*each-lost)
		}
		var restores int64
		for _, sm := range c.sms {
			restores += sm.restores.Load()
		}
		t.Logf("%d snapshots installed, %d outcomes unknown (%d of those not applied)", restores, unknown, lost)
		for _, id := range c.ids() {
			st, _ := c.groups[id].Status()
			if st.FirstIndex < 500 || st.LastIndex-st.FirstIndex > 300 {
				t.Errorf("member %d holds log [%d, %d]: not compacted", id, st.FirstIndex, st.LastIndex)
			}
		}
	})
}

// TestNoLeader: a proposal where no leader is known fails at once with
// ErrNoLeader, which is an ErrDropped.
func TestNoLeader(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := &cluster{t: t, net: newNetwork(), groups: map[uint64]*Group{}, sms: map[uint64]*logSM{}}
		defer c.close()
		g := c.start(7, nil) // a member waiting to join
		start := time.Now()
		_, _, err := g.Propose(context.Background(), []byte("x"))
		if !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrDropped) {
			t.Fatalf("Propose without a leader: %v, want ErrNoLeader", err)
		}
		if d := time.Since(start); d > 0 {
			t.Errorf("Propose without a leader took %v", d)
		}
	})
}

// TestLeaderCrash: after the leader crashes, a new leader is elected
// within a few election timeouts, proposals continue on every survivor,
// and no member applied an entry that differs from another's.
func TestLeaderCrash(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		for i := range 100 {
			propose(t, c.groups[lead], fmt.Sprint("before-", i))
		}
		c.crash(lead)
		crashed := time.Now()
		next := c.waitLeader(c.ids(), 10*electionTimeout)
		took := time.Since(crashed)
		t.Logf("new leader %d %v after the crash of %d", next, took, lead)
		if took > 5*electionTimeout {
			t.Errorf("new leader after %v, want within 5 election timeouts", took)
		}
		for i := range 100 {
			for _, id := range c.ids() {
				propose(t, c.groups[id], fmt.Sprintf("after-%d-%d", id, i))
			}
		}
		log := c.waitConverged(2 * time.Second)
		if len(log) != 300 {
			t.Errorf("survivors applied %d entries, want 300", len(log))
		}
		c.checkPrefixes()
	})
}

// TestProposeLeaderPartitioned: a proposal on a leader that is cut off
// returns by its ctx, never hangs, and is not applied anywhere.
func TestProposeLeaderPartitioned(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		propose(t, c.groups[lead], "before")
		c.net.isolate(lead)
		var wg sync.WaitGroup
		for _, id := range c.ids() {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				_, _, err := c.groups[id].Propose(ctx, []byte(fmt.Sprint("during-", id)))
				took := time.Since(start)
				if id == lead && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Propose on the cut-off leader %d: %v, want context.DeadlineExceeded", id, err)
				}
				if id != lead && err != nil {
					t.Logf("Propose on follower %d during the partition: %v after %v", id, err, took)
				}
				if took > time.Second {
					t.Errorf("Propose on %d returned after %v, past its 1 s deadline", id, took)
				}
			})
		}
		wg.Wait()
		c.net.heal()
		c.waitLeader(c.ids(), 2*time.Second)
		propose(t, c.groups[lead], "after")
		log := c.waitConverged(2 * time.Second)
		for _, e := range log {
			if e.Data == fmt.Sprint("during-", lead) {
				t.Errorf("the cut-off leader's proposal was applied at %d", e.Index)
			}
		}
	})
}

// TestProposeLeaderPartitionedHeal: a proposal on a leader that is cut
// off, with a long ctx, returns ErrDropped soon after the heal: the old
// leader learns the new one and fences its lost proposal.
func TestProposeLeaderPartitionedHeal(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		c.net.isolate(lead)
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _, err := c.groups[lead].Propose(ctx, []byte("lost"))
			done <- err
		}()
		time.Sleep(10 * electionTimeout)
		select {
		case err := <-done:
			t.Fatalf("Propose on the cut-off leader returned %v before the heal", err)
		default:
		}
		c.net.heal()
		healed := time.Now()
		err := <-done
		if !errors.Is(err, ErrDropped) {
			t.Errorf("Propose on the old leader: %v, want ErrDropped", err)
		}
		t.Logf("the old leader's proposal returned %v %v after the heal", err, time.Since(healed))
		if took := time.Since(healed); took > 5*electionTimeout {
			t.Errorf("ErrDropped %v after the heal, want within 5 election timeouts", took)
		}
		for _, e := range c.waitConverged(time.Second) {
			if e.Data == "lost" {
				t.Errorf("the lost proposal was applied at %d", e.Index)
			}
		}
	})
}

// TestPartition: the minority side of a partition cannot commit, the
// majority elects a leader and goes on, and after the heal every member
// converges on the majority's log.
func TestPartition(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 5, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		propose(t, c.groups[lead], "before")
		minority := []uint64{lead, lead%5 + 1}
		var majority []uint64
		for _, id := range c.ids() {
			if !slices.Contains(minority, id) {
				majority = append(majority, id)
			}
		}
		c.net.partition(minority, majority)
		for _, id := range minority {
			ctx, cancel := context.WithTimeout(context.Background(), 5*electionTimeout)
			_, _, err := c.groups[id].Propose(ctx, []byte(fmt.Sprint("minority-", id)))
			cancel()
			if err == nil {
				t.Errorf("Propose on minority member %d succeeded", id)
			}
		}
		c.waitLeader(majority, 10*electionTimeout)
		for i := range 50 {
			propose(t, c.groups[majority[i%3]], fmt.Sprint("majority-", i))
		}
		for _, id := range minority {
			if n := len(c.sms[id].log()); n != 1 {
				t.Errorf("minority member %d applied %d entries during the partition, want 1", id, n)
			}
		}
		c.net.heal()
		c.waitLeader(c.ids(), 2*time.Second)
		log := c.waitConverged(2 * time.Second)
		if len(log) != 51 {
			t.Errorf("after the heal every member applied %d entries, want 51", len(log))
		}
		for _, e := range log {
			if len(e.Data) > 8 && e.Data[:8] == "minority" {
				t.Errorf("a minority proposal was applied: %v", e)
			}
		}
	})
}

// TestDroppedProposal: a forwarded proposal that the transport loses
// returns ErrDropped within a few election timeouts (a fence retires it),
// not at its ctx deadline.
func TestDroppedProposal(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		follower := lead%3 + 1
		var dropped atomic.Bool
		c.net.setDrop(func(from uint64, m *raftpb.Message) bool {
			return from == follower && m.GetType() == raftpb.MsgProp && dropped.CompareAndSwap(false, true)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, _, err := c.groups[follower].Propose(ctx, []byte("lost"))
		took := time.Since(start)
		if !errors.Is(err, ErrDropped) {
			t.Fatalf("Propose whose forward was lost: %v, want ErrDropped", err)
		}
		t.Logf("lost proposal: %v after %v", err, took)
		if took > 4*electionTimeout {
			t.Errorf("lost proposal returned after %v, want within 4 election timeouts", took)
		}
		propose(t, c.groups[follower], "kept")
		log := c.waitConverged(time.Second)
		if len(log) != 1 || log[0].Data != "kept" {
			t.Errorf("applied %v, want only the second proposal", log)
		}
	})
}

// TestDuplicateProposal: a proposal the transport delivers twice is
// applied once; the duplicate is refused on every member alike.
func TestDuplicateProposal(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		follower := lead%3 + 1
		c.net.setDup(func(from uint64, m *raftpb.Message) bool {
			return from == follower && m.GetType() == raftpb.MsgProp
		})
		for i := range 20 {
			propose(t, c.groups[follower], fmt.Sprint("dup-", i))
		}
		log := c.waitConverged(time.Second)
		if len(log) != 20 {
			t.Errorf("applied %d entries, want 20: %v", len(log), log)
		}
	})
}
