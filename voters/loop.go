package voters

import (
	"context"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// loop runs the service's periodic work until it closes: founding the
// first group, noticing this member's removal, gossiping its role, and
// on the leader the autopilot and the expiry of leases.
func (s *Service) loop() {
	defer s.wg.Done()
	clk := s.node.Clock()
	t := clk.NewTicker(s.opt.tick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-t.C:
			// The leader works every tick (expiries, autopilot); the
			// others every fourth: reading the member list costs, on
			// every node of a large cluster.
			s.mu.Lock()
			leading := s.leading
			s.mu.Unlock()
			if leading || n%4 == 0 {
				s.step(clk.Now())
			}
		case <-s.node.Done():
			s.stop() // the node closed under the service (a crash)
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Service) step(now time.Time) {
	v := s.currentView()
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		s.maybeFound(v, now)
		return
	}
	st, err := m.g.Status()
	if err != nil {
		s.leaveMember(m, "stopped: "+err.Error(), retireState)
		return
	}
	m.noteRemoved(slices.Concat(st.Voters, st.Learners), v)
	if (st.Leader != 0 || st.Term > 1) && !m.led {
		// A leader, or an election past its pre-vote (a vote this
		// member cast may have made a leader it never heard from):
		// from now on the group has granted or may grant: its role
		// tags tell every node that sees them never to found a group
		// (maybeFound). A group that never had a leader committed
		// nothing; its members keep quiet, so that a founding whose
		// first voters went elsewhere does not stop the next one.
		m.led = true
		s.mem.saw(true)
	}
	role := roleOf(m, st)
	switch {
	case role != "":
		m.seen = true
	case m.seen:
		s.dropMember(m, "removed from the configuration")
		return
	case now.Sub(m.started) > 2*s.opt.failAfter:
		s.dropMember(m, "never added to the configuration")
		return
	}
	if st.Term <= 1 && m.table.Last() == 0 && now.Sub(m.started) > 2*s.opt.failAfter {
		// No election ever went past its pre-vote in its group, which
		// never applied its founding entry: its first voters went
		// elsewhere (another group founded at the same time, a
		// restart) before they elected a leader, and never will. It
		// granted nothing: drop it, so that a group is founded again.
		s.dropMember(m, "the group was never founded")
		return
	}
	if st.Leader != 0 || v.leader == "" || v.leader == s.node.Name() || v.group != m.group {
		m.heard = now
	} else if now.Sub(m.heard) > s.opt.failAfter {
		// Gossip names a leader of its group that this member has not
		// heard from for failAfter: it may have been removed while it
		// was cut off (nobody tells a removed member).
		s.rejoin(m, v.leader)
	}
	if v.group != 0 && v.group < m.group {
		// Two groups formed apart (nodes that found each other only
		// later): the younger one dissolves, and its nodes join the
		// older one. See the package doc's hazards.
		s.dropMember(m, "an older group exists")
		return
	}
	if !m.led {
		role = ""
	}
	s.setRole(role)
	s.mu.Lock()
	s.leading = st.State == raft.StateLeader
	s.mu.Unlock()
	if st.State != raft.StateLeader {
		return
	}
	if m.table.Last() == 0 {
		s.refound(m)
	}
	s.expire(m, now)
	s.expireEvents(m, now)
	s.autopilot(m, st, v, now)
}

// refound proposes the group's founding entry on a leader whose table has
// not applied one: the founder proposes it once a leader exists, and a
// founder whose service stopped before it committed left a group that
// refused every command (serveDo waits for the entry). The entry is the
// founder's: its base is the group's ID. A second one that commits too
// changes nothing (OpFound never lowers the counter).
func (s *Service) refound(m *member) {
	s.oneAtATime(&s.founding, nil, func() {
		ctx, cancel := context.WithTimeout(s.ctx, time.Second)
		defer cancel()
		if _, err := s.propose(ctx, m, []leases.Cmd{{Op: leases.OpFound, Token: m.group}}); err != nil {
			s.log.Debug("founding entry not proposed", "err", err)
		}
	})
}

// rejoin asks lead, the leader gossip names, to remove member m, cut off
// from it; once the leader answered (removed, or removed already), m
// is dropped and this node comes back under a new ID. A leader that is
// gone (gossip may name it for a while) does not answer: m stays.
func (s *Service) rejoin(m *member, lead string) {
	s.oneAtATime(&s.asking, nil, func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.opt.failAfter)
		defer cancel()
		var resp doResp
		err := s.node.Call(ctx, lead, methodLeave, leaveReq{Group: m.group, ID: m.id}, &resp)
		if err == nil && !resp.NotLeader {
			s.dropMember(m, "cut off from the leader "+lead)
		}
	})
}

// expire proposes the expiry of every grant this member has held past
// its hold, one proposal at a time.
func (s *Service) expire(m *member, now time.Time) {
	cmds := m.table.Expired(now)
	if len(cmds) == 0 {
		return
	}
	s.oneAtATime(&s.expiring, nil, func() {
		ctx, cancel := context.WithTimeout(s.ctx, time.Second)
		defer cancel()
		if _, err := s.propose(ctx, m, cmds); err != nil {
			s.log.Debug("expiry not applied", "n", len(cmds), "err", err)
		}
	})
}

// expireEvents proposes what the event log has due: the redelivery of
// events whose delivery deadline passed, and the trimming of events past
// their topic's age, one proposal at a time. Its times are this
// leader's event clock, as those of the deadlines it stamped (see
// serveDo and member.eventTime).
func (s *Service) expireEvents(m *member, now time.Time) {
	cmds := m.events.Due(m.eventTime(now))
	if len(cmds) == 0 {
		return
	}
	s.oneAtATime(&s.expiringEvents, nil, func() {
		ctx, cancel := context.WithTimeout(s.ctx, time.Second)
		defer cancel()
		if _, err := s.proposeEvents(ctx, m, cmds); err != nil {
			s.log.Debug("event expiry not applied", "n", len(cmds), "err", err)
		}
	})
}

// maxLag is how far behind the leader's log a learner may be and still
// be promoted.
const maxLag = 64

// autopilot keeps the configuration at the target size with live
// members, one change at a time: it removes a member whose node
// restarted (its state is gone) at once and one unseen for failAfter,
// adds alive nodes as learners, promotes caught-up learners so that the
// number of voters stays odd, and removes voters beyond the target.
func (s *Service) autopilot(m *member, st raftgroup.Status, v view, now time.Time) {
	if len(st.VotersOutgoing) > 0 {
		return // a joint configuration is being left
	}
	var cc *raftpb.ConfChangeV2
	var why string
	planned := func() bool {
		cc, why = s.plan(m, st, v, now)
		return cc != nil
	}
	s.oneAtATime(&s.busy, planned, func() {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		if err := m.g.ProposeConfChange(ctx, cc); err != nil {
			s.log.Debug("configuration change not made", "change", why, "err", err)
			return
		}
		s.log.Info("voter configuration changed", "change", why)
	})
}

// plan returns the next configuration change, if any. s.mu is held.
func (s *Service) plan(m *member, st raftgroup.Status, v view, now time.Time) (*raftpb.ConfChangeV2, string) {
	inCfg := slices.Concat(st.Voters, st.Learners)
	gone, pending := uint64(0), 0 // a member to remove; members unseen but not yet replaced
	for id := range s.missing {
		if !slices.Contains(inCfg, id) {
			delete(s.missing, id)
		}
	}
	for id := range s.known {
		if _, alive := s.names[id]; !alive && !slices.Contains(inCfg, id) {
			delete(s.known, id)
		}
	}
	for _, id := range inCfg {
		if id == m.id {
			continue
		}
		cur, alive := v.ids[s.known[id]]
		switch {
		case alive && cur == id:
			delete(s.missing, id)
			continue
		case alive: // the node restarted: this incarnation is dead for good
			gone = cmpOr(gone, id)
			continue
		}
		since, ok := s.missing[id]
		if !ok {
			s.missing[id], since = now, now
		}
		if now.Sub(since) >= s.opt.failAfter {
			gone = cmpOr(gone, id)
		} else if slices.Contains(st.Voters, id) {
			pending++
		}
	}
	if gone != 0 {
		return change(raftpb.ConfChangeRemoveNode, gone), "remove an unreachable or restarted member"
	}
	target := min(s.node.Voters(), len(v.ids)+pending)
	if target%2 == 0 {
		target--
	}
	target = max(target, 1)
	voters, learners := len(st.Voters), st.Learners
	var caught []uint64
	for _, id := range learners {
		if st.CaughtUp(id, maxLag) {
			caught = append(caught, id)
		}
	}
	switch {
	case voters < target && voters%2 == 0 && len(caught) >= 1:
		return change(raftpb.ConfChangeAddNode, caught[0]), "promote a learner"
	case voters+2 <= target && len(caught) >= 2:
		return change(raftpb.ConfChangeAddNode, caught[0], caught[1]), "promote two learners"
	case voters+len(learners) < target:
		for _, name := range sortedNames(v.ids) {
			// A node that gossips a role in the group but is not in
			// its configuration was removed and has not noticed yet
			// (it is leaving, or was away): its ID must not come back.
			if id := v.ids[name]; !slices.Contains(inCfg, id) && !slices.Contains(v.members, name) && !m.removed[id] {
				return change(raftpb.ConfChangeAddLearnerNode, id), "add " + name + " as a learner"
			}
		}
	case voters > target:
		return change(raftpb.ConfChangeRemoveNode, s.surplus(m, st)), "remove a voter beyond the target"
	case voters+len(learners) > target && len(learners) > 0 && voters == target:
		return change(raftpb.ConfChangeRemoveNode, learners[len(learners)-1]), "remove a learner beyond the target"
	}
	return nil, ""
}

func cmpOr(a, b uint64) uint64 {
	if a != 0 {
		return a
	}
	return b
}

// surplus picks the voter to remove when there are too many: one that
// is unseen, else the voter with the highest ID but the leader.
func (s *Service) surplus(m *member, st raftgroup.Status) uint64 {
	for _, id := range st.Voters {
		if _, ok := s.missing[id]; ok && id != m.id {
			return id
		}
	}
	var pick uint64
	for _, id := range st.Voters {
		if id != m.id && id > pick {
			pick = id
		}
	}
	return pick
}

func change(t raftpb.ConfChangeType, ids ...uint64) *raftpb.ConfChangeV2 {
	cc := &raftpb.ConfChangeV2{}
	for _, id := range ids {
		cc.Changes = append(cc.Changes, &raftpb.ConfChangeSingle{Type: t.Enum(), NodeId: &id})
	}
	return cc
}

func sortedNames(ids map[string]uint64) []string {
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// oneAtATime runs work on a goroutine of its own, unless the last work
// started with the same flag (a field guarded by s.mu) still runs, or
// ready, called under s.mu when the flag is clear, reports false.
func (s *Service) oneAtATime(flag *bool, ready func() bool, work func()) {
	s.mu.Lock()
	if *flag || ready != nil && !ready() {
		s.mu.Unlock()
		return
	}
	*flag = true
	s.mu.Unlock()
	s.spawn(func() {
		defer func() {
			s.mu.Lock()
			*flag = false
			s.mu.Unlock()
		}()
		work()
	})
}
