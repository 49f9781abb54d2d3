package raftgroup

import (
	"context"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Status is one member's view of its group.
type Status struct {
	ID     uint64         // this member
	Leader uint64         // the leader this member knows of, 0 if none
	Term   uint64         // this member's current term
	Vote   uint64         // whom this member voted for in Term, 0 if nobody
	State  raft.StateType // this member's role: leader, follower, (pre-)candidate
	Commit uint64         // highest log index known to be committed
	// Applied is the index of the last entry applied to the state machine.
	Applied uint64
	// FirstIndex and LastIndex bound the log this member holds; entries
	// below FirstIndex were compacted into the snapshot at SnapshotIndex.
	FirstIndex, LastIndex, SnapshotIndex uint64

	// The applied configuration. VotersOutgoing is non-empty while the
	// configuration is joint; Learners includes those that become
	// learners when the joint configuration is left.
	Voters, VotersOutgoing, Learners []uint64

	// Progress holds, on the leader only, each member's replication
	// progress, the leader's own included.
	Progress map[uint64]Progress
}

// Progress is the leader's view of a member's replication.
type Progress struct {
	// Match is the highest index known to be in the member's log.
	Match uint64
	// Next is the next index the leader sends it.
	Next uint64
	// State is probe, replicate or snapshot (being sent one).
	State tracker.StateType
	// Learner is true for a learner: it replicates but does not vote.
	Learner bool
	// RecentActive is true if the member was heard from within the last
	// election timeout.
	RecentActive bool
}

// CaughtUp reports, on the leader's Status, whether member id holds the
// log to within maxLag entries of the leader's last index: the point at
// which a learner can be promoted to voter without stalling commits. It
// is false on a follower's Status (no Progress) and for an unknown id.
func (s *Status) CaughtUp(id, maxLag uint64) bool {
	p, ok := s.Progress[id]
	return ok && p.State == tracker.StateReplicate && p.Match+maxLag >= s.LastIndex
}

// status runs on the loop.
func (g *Group) status() Status {
	rs := g.rn.Status()
	first, _ := g.storage.FirstIndex()
	last, _ := g.storage.LastIndex()
	s := Status{
		ID:             g.cfg.ID,
		Leader:         rs.Lead,
		Term:           rs.HardState.GetTerm(),
		Vote:           rs.HardState.GetVote(),
		State:          rs.RaftState,
		Commit:         rs.HardState.GetCommit(),
		Applied:        g.applied,
		FirstIndex:     first,
		LastIndex:      last,
		SnapshotIndex:  g.snapIndex,
		Voters:         slices.Clone(g.confState.GetVoters()),
		VotersOutgoing: slices.Clone(g.confState.GetVotersOutgoing()),
		Learners:       append(slices.Clone(g.confState.GetLearners()), g.confState.GetLearnersNext()...),
	}
	for _, ids := range [][]uint64{s.Voters, s.VotersOutgoing, s.Learners} {
		slices.Sort(ids)
	}
	if rs.Progress != nil {
		s.Progress = make(map[uint64]Progress, len(rs.Progress))
		for id, p := range rs.Progress {
			s.Progress[id] = Progress{
				Match: p.Match, Next: p.Next, State: p.State,
				Learner: p.IsLearner, RecentActive: p.RecentActive,
			}
		}
	}
	return s
}

// Leader is a leader as one member learns of it.
type Leader struct {
	ID   uint64 // 0: none known (an election is under way, or cut off)
	Term uint64
}

// Leader returns the leader this member knows of, as Follow last
// published it: it does not wait for the loop, so it may lag the loop by
// one Ready. A caller that routes work by it must cope with a leader that
// just stepped down (its proposal then fails with ErrDropped or is
// forwarded, as raft does).
func (g *Group) Leader() Leader {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.leader
}

// Follow returns a channel that receives the leader this member knows of
// at once, and then each change: a new leader, a new term of a leader, or
// the loss of the leader (ID 0). Only the latest value is kept: a slow
// reader skips intermediate ones but always receives the latest. The
// channel is closed when ctx ends or the group stops.
func (g *Group) Follow(ctx context.Context) <-chan Leader {
	s := &subscription{ch: make(chan Leader, 1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.stopped {
		close(s.ch)
		return s.ch
	}
	s.ch <- g.mu.leader
	g.mu.subs[s] = context.AfterFunc(ctx, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.mu.subs[s]; ok {
			delete(g.mu.subs, s)
			close(s.ch)
		}
	})
	return s.ch
}

type subscription struct {
	ch chan Leader // capacity 1; only the loop sends, under Group.mu
}

// publish replaces the channel's unread value, if any, with l. Called
// under Group.mu.
func (s *subscription) publish(l Leader) {
	select {
	case <-s.ch:
	default:
	}
	s.ch <- l
}

// ConfStatus returns Status and, of the same instant, the log index of
// the last configuration change this member applied: the number (epoch)
// of its configuration, the same on every member that applied it. It is
// 0 when this member's configuration came with a snapshot (which does
// not say which entry made it), until the next change. It returns
// ErrClosed once the loop stopped.
func (g *Group) ConfStatus() (Status, uint64, error) {
	type result struct {
		st    Status
		index uint64
	}
	ch := make(chan result, 1)
	if err := g.submit(context.Background(), func() { ch <- result{g.status(), g.confIndex} }); err != nil {
		return Status{}, 0, err
	}
	select {
	case r := <-ch:
		return r.st, r.index, nil
	case <-g.stopped:
		return Status{}, 0, ErrClosed
	}
}
