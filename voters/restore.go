package voters

import (
	"errors"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// restore starts the member the node's DataDir names, if any, under its
// Raft ID: the process goes on as the member it was (see store). It
// runs in start, before the node gossips its ID. The node goes on under
// a new ID instead, as one without a DataDir would, when the member's
// state is lost or damaged (its Raft directory is missing, or does not
// open: raftgroup.ErrCorrupt), which retires the ID for good: it is
// never started again on what is left, which may have forgotten a vote
// or an acknowledged entry. On any other failure (the directory in use
// by a member still closing, a full disk) the directory is left as it
// is and the node goes on under a new ID; the old ID stays retired
// unless a later process restores it (its state is whole).
func (s *Service) restore() {
	st := s.mem.store
	sm, ok, err := st.member()
	if err != nil {
		s.log.Error("voter member in the DataDir not read: starting afresh", "err", err)
		if err := st.clearMember(sm.id); err != nil {
			s.log.Error("voter member in the DataDir not cleared", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	id := strconv.FormatUint(sm.id, 16)
	if !st.hasRaftDir(sm.id) {
		s.log.Error("voter member in the DataDir has no Raft state: retired, starting afresh", "id", id)
		if err := st.clearMember(sm.id); err != nil {
			s.log.Error("voter member in the DataDir not cleared", "err", err)
		}
		return
	}
	s.mu.Lock()
	s.rid = sm.id
	m, err := s.runMember(sm.group, nil, st.raftDir(sm.id))
	if err != nil {
		s.rid = newID()
		s.mu.Unlock()
		if !errors.Is(err, raftgroup.ErrCorrupt) {
			s.log.Error("voter member in the DataDir not restored: starting afresh under a new ID", "id", id, "err", err)
			return
		}
		s.log.Error("voter member in the DataDir damaged: set aside, starting afresh", "id", id, "err", err)
		if err := st.setAside(sm.id); err != nil {
			s.log.Error("voter member in the DataDir not set aside", "err", err)
		}
		return
	}
	s.m = m
	s.mu.Unlock()
	s.log.Info("voter member restored from the DataDir", "group", strconv.FormatUint(sm.group, 16), "id", strconv.FormatUint(sm.id, 16))
	rs, err := waitReplayed(m.g)
	if err != nil || rs.Term <= 1 {
		return // a group that never had an election: the loop sees to it
	}
	// Its group had elections: it gossips its role (from the
	// configuration it applied) with its ID, in the same update. A
	// leader that removed it while it was down then never adds its ID
	// back (plan skips a node that gossips a role in the group but is not
	// in the configuration), and the member, cut off, rejoins under a
	// new ID (step).
	s.mem.saw(true)
	s.mu.Lock()
	if s.m == m {
		m.led = true
		s.role = roleOf(m, rs)
		s.tags[tagRole] = s.role
	}
	s.mu.Unlock()
}

// replayWait bounds waitReplayed: replaying a directory's entries
// takes milliseconds. A member slower than this gossips its ID before
// its role, and a leader that removed it meanwhile may add the ID back
// as a learner: Raft allows it for a member whose storage is whole (it
// catches up as any member that was cut off), only a member that lost
// its state must never come back under its ID.
const replayWait = 10 * time.Second

// waitReplayed waits until g applied what its directory held as
// committed (a restarted member's configuration is its snapshot's until
// it applied the configuration changes of the entries after it), at
// most replayWait, and returns its status.
func waitReplayed(g *raftgroup.Group) (raftgroup.Status, error) {
	st, err := g.Status()
	want := st.Commit
	deadline := time.Now().Add(replayWait)
	for err == nil && st.Applied < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		st, err = g.Status()
	}
	return st, err
}
