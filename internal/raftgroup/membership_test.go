package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// compacting makes members snapshot every 100 entries, keeping 20.
func compacting(cfg *Config) { cfg.SnapshotEntries, cfg.KeepEntries = 100, 20 }

// addMember starts id empty, adds it as a learner, waits until the
// leader sees it caught up, and promotes it. voters are the live voters.
func (c *cluster) addMember(voters []uint64, id uint64) {
	c.t.Helper()
	c.start(id, nil)
	c.changeConf(voters, fmt.Sprintf("l%d", id))
	waitFor(c.t, 5*time.Second, fmt.Sprintf("learner %d caught up", id), func() bool {
		lead := c.waitLeader(voters, 5*time.Second)
		st, err := c.groups[lead].Status()
		return err == nil && st.CaughtUp(id, 0)
	})
	c.changeConf(voters, fmt.Sprintf("v%d", id))
}

// waitVoters waits until every live member has applied a configuration
// of exactly these voters.
func (c *cluster) waitVoters(want []uint64) {
	c.t.Helper()
	var last Status
	waitFor(c.t, 2*time.Second, fmt.Sprintf("voters %v everywhere (last seen: %+v)", want, &last), func() bool {
		for _, id := range c.ids() {
			st, err := c.groups[id].Status()
			if err != nil {
				c.t.Fatalf("Status of %d: %v", id, err)
			}
			last = st
			if !slices.Equal(st.Voters, want) || len(st.VotersOutgoing) > 0 || len(st.Learners) > 0 {
				return false
			}
		}
		return true
	})
}

// TestMembership: a learner added after the log was compacted catches up
// from a snapshot and is promoted; then every original member is replaced
// one at a time by a new ID (simple changes for the first, joint
// consensus for the others, removing the leader along the way), and the
// state survives: the V2 property the voter core needs for rolling
// restarts.
func TestMembership(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, compacting)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		for i := range 300 {
			propose(t, c.groups[lead], fmt.Sprint("gen0-", i))
		}
		if st, _ := c.groups[lead].Status(); st.FirstIndex < 200 {
			t.Fatalf("leader's log starts at %d: not compacted", st.FirstIndex)
		}

		// 4 joins as a learner, from a snapshot; promoted; 1 removed.
		voters := []uint64{1, 2, 3}
		c.addMember(voters, 4)
		if n := c.sms[4].restores.Load(); n == 0 {
			t.Errorf("member 4 caught up without installing a snapshot")
		}
		voters = []uint64{1, 2, 3, 4}
		c.waitVoters(voters)
		epoch := c.sameEpoch(voters)
		c.changeConf(voters, "r1")
		c.crash(1)
		voters = []uint64{2, 3, 4}
		c.waitVoters(voters)
		for i := range 100 {
			propose(t, c.groups[voters[i%3]], fmt.Sprint("gen1-", i))
		}

		// 5 replaces 2 and 6 replaces 3, each in one joint change.
		for _, step := range []struct{ old, new uint64 }{{2, 5}, {3, 6}} {
			c.start(step.new, nil)
			c.changeConf(voters, fmt.Sprintf("l%d", step.new))
			waitFor(t, 5*time.Second, fmt.Sprintf("learner %d caught up", step.new), func() bool {
				st, err := c.groups[c.waitLeader(voters, 5*time.Second)].Status()
				return err == nil && st.CaughtUp(step.new, 0)
			})
			if n := c.sms[step.new].restores.Load(); n == 0 {
				t.Errorf("member %d caught up without installing a snapshot", step.new)
			}
			c.changeConf(voters, fmt.Sprintf("v%d r%d", step.new, step.old))
			c.crash(step.old)
			voters = append(slices.DeleteFunc(voters, func(id uint64) bool { return id == step.old }), step.new)
			slices.Sort(voters)
			c.waitLeader(voters, 2*time.Second)
			c.waitVoters(voters)
			for i := range 100 {
				propose(t, c.groups[voters[i%3]], fmt.Sprintf("gen%d-%d", step.new, i))
			}
		}

		if last := c.sameEpoch(voters); last <= epoch {
			t.Errorf("epoch after the replacements %d, want above %d", last, epoch)
		}
		log := c.waitConverged(2 * time.Second)
		if len(log) != 600 {
			t.Errorf("the replaced group holds %d entries, want 600", len(log))
		}
		for i, want := range []string{"gen0-0", "gen0-299", "gen1-0", "gen5-0", "gen6-99"} {
			if !slices.ContainsFunc(log, func(e applied) bool { return e.Data == want }) {
				t.Errorf("#%d: %s was lost in the replacement", i, want)
			}
		}
		c.checkPrefixes()
	})
}

// TestRemoveLeader: the leader proposes its own removal; the call
// returns once applied, the leader steps down, the rest elect a new one.
func TestRemoveLeader(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.groups[lead].ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: mustChanges(t, fmt.Sprint("r", lead))}); err != nil {
			t.Fatalf("leader removing itself: %v", err)
		}
		c.crash(lead)
		next := c.waitLeader(c.ids(), 10*electionTimeout)
		propose(t, c.groups[next], "after")
		c.waitVoters(c.ids())
		_, _, err := c.groups[next].Propose(ctx, []byte("x"))
		if err != nil {
			t.Errorf("Propose after the removal: %v", err)
		}
	})
}

func mustChanges(t *testing.T, s string) []*raftpb.ConfChangeSingle {
	t.Helper()
	ccs, err := raftpb.ConfChangesFromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return ccs
}

// TestConfChangeErrors: changes only the leader serves, changes raft
// would panic on, and a change while another is pending.
func TestConfChangeErrors(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		follower := lead%3 + 1
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()

		err := c.groups[follower].ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: mustChanges(t, "l9")})
		var nl *NotLeaderError
		if !errors.As(err, &nl) || nl.Leader != lead || !errors.Is(err, ErrNotLeader) {
			t.Errorf("ProposeConfChange on a follower: %v, want a NotLeaderError naming %d", err, lead)
		}
		for _, bad := range []string{"r1 r2 r3", "v0", "l1 l2 l3"} {
			err := c.groups[lead].ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: mustChanges(t, bad)})
			if !errors.Is(err, ErrBadConfChange) {
				t.Errorf("ProposeConfChange(%q): %v, want ErrBadConfChange", bad, err)
			}
		}

		// With the followers cut off the first change cannot commit: a
		// second one is refused at once.
		for _, id := range c.ids() {
			if id != lead {
				c.net.isolate(id)
			}
		}
		first := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*electionTimeout)
			defer cancel()
			first <- c.groups[lead].ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: mustChanges(t, "l8")})
		}()
		time.Sleep(electionTimeout / 2)
		start := time.Now()
		err = c.groups[lead].ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: mustChanges(t, "l9")})
		if !errors.Is(err, ErrDropped) || time.Since(start) > 0 {
			t.Errorf("second pending change: %v after %v, want ErrDropped at once", err, time.Since(start))
		}
		if err := <-first; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("first change, not committable: %v, want context.DeadlineExceeded", err)
		}
		c.net.heal()
	})
}

// TestTransferLeadership: the leader hands over to a chosen voter.
func TestTransferLeadership(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		to := lead%3 + 1
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.groups[to].TransferLeadership(ctx, lead); !errors.Is(err, ErrNotLeader) {
			t.Errorf("TransferLeadership on a follower: %v, want ErrNotLeader", err)
		}
		if err := c.groups[lead].TransferLeadership(ctx, 42); !errors.Is(err, ErrTransferFailed) {
			t.Errorf("TransferLeadership to a non-member: %v, want ErrTransferFailed", err)
		}
		start := time.Now()
		if err := c.groups[lead].TransferLeadership(ctx, to); err != nil {
			t.Fatalf("TransferLeadership(%d): %v", to, err)
		}
		t.Logf("leadership moved from %d to %d in %v", lead, to, time.Since(start))
		if got := c.waitLeader(c.ids(), time.Second); got != to {
			t.Errorf("leader after the transfer: %d, want %d", got, to)
		}
		propose(t, c.groups[lead], "after")
	})
}

// TestFollow: Follow reports the current leader at once, a new leader
// with a higher term after a crash, and closes with its ctx or the group.
func TestFollow(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		watcher := lead%3 + 1
		ctx, cancel := context.WithCancel(context.Background())
		ch := c.groups[watcher].Follow(ctx)
		first := <-ch
		if first.ID != lead || first.Term == 0 {
			t.Fatalf("Follow: first %+v, want leader %d", first, lead)
		}
		c.crash(lead)
		next := c.waitLeader(c.ids(), 10*electionTimeout)
		var got Leader
		waitFor(t, time.Second, "Follow to report the new leader", func() bool {
			select {
			case got = <-ch:
			default:
			}
			return got.ID == next
		})
		if got.Term <= first.Term {
			t.Errorf("new leader's term %d, want above %d", got.Term, first.Term)
		}
		waitFor(t, time.Second, "Leader to agree with Follow", func() bool {
			return c.groups[watcher].Leader() == got && c.groups[next].Leader() == got
		})
		cancel()
		for range ch { // closes with ctx
		}
		closing := c.groups[next].Follow(context.Background())
		c.crash(next)
		for range closing { // closes with the group
		}
	})
}

// sameEpoch waits until members ids report one nonzero epoch
// (ConfStatus) and returns it.
func (c *cluster) sameEpoch(ids []uint64) uint64 {
	c.t.Helper()
	var got []uint64
	waitFor(c.t, 5*time.Second, "one epoch on every member", func() bool {
		got = got[:0]
		for _, id := range ids {
			_, e, err := c.groups[id].ConfStatus()
			if err != nil || e == 0 {
				return false
			}
			got = append(got, e)
		}
		return slices.Min(got) == slices.Max(got)
	})
	return got[0]
}
