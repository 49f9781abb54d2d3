package voters

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// ErrNoGroup is wrapped by Do's error when ctx ended while no voter
// group was known or reachable.
var ErrNoGroup = errors.New("voters: no reachable voter group")

// Do applies cmds, as one log entry (renewals may share theirs with
// others that reach the leader together), through the leader of the
// voter group, and returns their results. Any node may call it: a node
// that is not the leader sends cmds to the leader it knows of by gossip,
// and is redirected by the voter it asked. It tries again, on the leader
// it is told of or another voter, until ctx ends; each try waits at most
// a third of what is left, so a crashed leader that gossip still names
// cannot use up ctx. Every command of a lease table may be applied more
// than once with the effect of once (a claim by a holder that holds
// returns its token again; renewals, releases and expiries name the
// grant they act on), so a retry after an unknown outcome is safe.
func (s *Service) Do(ctx context.Context, cmds []leases.Cmd) ([]leases.Result, error) {
	resp, _, err := s.do(ctx, doReq{Cmds: cmds})
	return resp.Results, err
}

// DoAppended sends releases to the leader as Do sends commands, and
// returns once the leader has appended them to its log, before a
// majority holds them (raftgroup's ProposeAppended): one message to the
// leader and back instead of a round of the voters. Every command that
// leader proposes later comes after them in the log, so a claim that
// reaches it after DoAppended returned is applied after the releases.
// They are lost if that leader loses its lead before they are
// committed; a lost release costs time only: its grant expires as if
// its holder had crashed. cmds must all be releases.
func (s *Service) DoAppended(ctx context.Context, cmds []leases.Cmd) error {
	if !onlyOp(cmds, leases.OpRelease) {
		return errors.New("voters: DoAppended takes releases only")
	}
	_, _, err := s.do(ctx, doReq{Cmds: cmds, Appended: true})
	return err
}

// DoEvents applies event commands as Do applies lease commands: as one
// log entry, through the leader. Unlike lease commands, a publish
// applied twice appends twice, unless its events carry keys (see
// eventlog.OpPublish): a retry after an unknown outcome may duplicate
// events without keys.
func (s *Service) DoEvents(ctx context.Context, cmds []eventlog.Cmd) ([]eventlog.Result, error) {
	res, _, err := s.DoEventsSent(ctx, cmds)
	return res, err
}

// DoEventsSent is DoEvents that also returns when the try that was
// answered was sent: the leader stamped the commands (their Now) after
// that, however long the tries before it took, so the hold a fetch's
// answer gives (eventlog.Event.Left) lasts at least that long from then.
func (s *Service) DoEventsSent(ctx context.Context, cmds []eventlog.Cmd) ([]eventlog.Result, time.Time, error) {
	resp, sent, err := s.do(ctx, doReq{Events: cmds})
	return resp.Events, sent, err
}

// do sends req to the leader, following redirects and trying again
// until ctx ends (see Do), and returns the answer and when the try that
// got it was sent.
func (s *Service) do(ctx context.Context, req doReq) (doResp, time.Time, error) {
	backoff := time.Millisecond
	var last error = ErrNoGroup
	var failed string // the last target that did not answer
	for hops := 0; ; hops++ {
		if s.ctx.Err() != nil {
			return doResp{}, time.Time{}, ErrClosed
		}
		target, group := s.target(hops, failed)
		if target != "" {
			tctx, cancel := tryContext(ctx)
			req.Group = group
			sent := time.Now()
			res, next, err := s.try(tctx, target, req)
			cancel()
			if err == nil {
				return res, sent, nil
			}
			if next == "" {
				failed = target
				s.suspect(target)
			}
			last = err
			if next != "" && hops < 3 {
				continue // redirected to the leader: go there at once
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return doResp{}, time.Time{}, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-s.ctx.Done():
			t.Stop()
			return doResp{}, time.Time{}, ErrClosed
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// suspect records that name did not answer a try. Gossip may still name
// it as the leader: the next commands try elsewhere first, for
// suspectFor.
func (s *Service) suspect(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suspectName, s.suspectAt = name, time.Now()
}

// suspectedLocked reports whether name did not answer a try within the
// last suspectFor. s.mu is held.
func (s *Service) suspectedLocked(name string) bool {
	return name != "" && name == s.suspectName && time.Since(s.suspectAt) < suspectFor
}

// suspectFor is how long a target that did not answer is tried last: about
// the time gossip takes to report a crashed node on cluster.Local.
const suspectFor = time.Second

// tryContext bounds one try to a third of what is left of ctx (at least
// minTry), or to maxTry if ctx has no deadline: a leader that crashed or
// was cut off may not refuse a connection, and gossip names it until its
// failure is detected, so a try that waited for all of ctx could leave
// no time to find the new leader, or, without a deadline, wait for ever
// (a consumer group's fetch did, for the rest of a chaos run, while the
// events handed out for it went out again).
func tryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, maxTry)
	}
	return context.WithTimeout(ctx, max(time.Until(d)/3, minTry))
}

// minTry is the least time a try waits for its answer; maxTry the most
// when its caller gave no deadline.
const (
	minTry = 20 * time.Millisecond
	maxTry = 3 * time.Second
)

// try sends req to target once. next names the leader target pointed
// to, if it is not the leader.
func (s *Service) try(ctx context.Context, target string, req doReq) (resp doResp, next string, err error) {
	if target == s.node.Name() {
		resp, err = s.serveDo(ctx, target, req)
	} else {
		err = s.node.Call(ctx, target, methodDo, req, &resp)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.hint = ""
		return doResp{}, "", err
	case resp.NotLeader:
		s.hint = resp.Leader
		return doResp{}, resp.Leader, fmt.Errorf("voters: %s is not the leader", target)
	}
	return resp, "", nil
}

// Leader returns the member that Do would send commands to first: the
// leader named by the last redirect, else the one gossip names; "" when
// none is known, or it did not answer a try within the last second. It
// is a hint that is right nearly always and wrong for a moment around a
// change of leader; nothing may rest on it but where work goes (package
// lockmgr puts its coordinators there, so that a claim is proposed on
// the node it reaches).
func (s *Service) Leader() string {
	v := s.currentView()
	s.mu.Lock()
	defer s.mu.Unlock()
	lead := v.leader
	if s.hint != "" && slices.Contains(v.members, s.hint) {
		lead = s.hint
	}
	if s.suspectedLocked(lead) {
		return ""
	}
	return lead
}

// target picks the node to send commands to: the leader named by the
// last redirect, else the one gossip names, else a member of the group.
// Gossip's leader and the random member are not failed (the last target
// that did not answer) nor a suspect while another is left; a redirect
// is followed even to them (a try that fails clears it).
func (s *Service) target(hops int, failed string) (string, uint64) {
	v := s.currentView()
	s.mu.Lock()
	hint := s.hint
	if failed == "" && s.suspectedLocked(v.leader) {
		failed = v.leader
	}
	s.mu.Unlock()
	others := v.members
	if failed != "" && len(others) > 1 {
		others = slices.DeleteFunc(slices.Clone(others), func(n string) bool { return n == failed })
	}
	switch {
	case hint != "" && slices.Contains(v.members, hint): // a fresh redirect: failed ones clear it
		return hint, v.group
	case v.leader != "" && v.leader != failed && hops == 0:
		return v.leader, v.group
	case len(others) > 0:
		return others[rand.N(len(others))], v.group
	}
	return "", 0
}

// currentView returns the view of the group that gossip gives, derived
// again from the member list only when that changed since the last one
// (reading the member list for every command would cost more than the
// command on a large cluster).
func (s *Service) currentView() view {
	version := s.node.MembersVersion()
	s.mu.Lock()
	v, seen, at := s.view, s.viewSeen, s.viewVersion
	s.mu.Unlock()
	if seen && at == version {
		return v
	}
	return s.observe(version, s.node.Members())
}

// serveDo applies a client's commands on the leader, or names the
// leader this member knows of.
func (s *Service) serveDo(ctx context.Context, _ string, req doReq) (doResp, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return doResp{NotLeader: true}, nil
	}
	// The leader as last published, not Status: Status waits for the
	// Raft loop and copies every member's progress, a cost on every
	// command. A member that just lost its lead fails the proposal
	// (ErrDropped below) or raft forwards it; either way no safety rests
	// on this test.
	if l := m.g.Leader(); m.group != req.Group && req.Group != 0 || l.ID != m.id {
		return doResp{NotLeader: true, Leader: s.nameOf(l.ID), Group: m.group}, nil
	}
	if m.table.Last() == 0 {
		// The founding entry is not applied yet: commands proposed now
		// could come before it and be refused as quiet. The client
		// tries again after its backoff.
		return doResp{NotLeader: true, Group: m.group}, nil
	}
	var resp doResp
	var err error
	switch {
	case req.Appended && onlyOp(req.Cmds, leases.OpRelease):
		err = m.g.ProposeAppended(ctx, leases.AppendCmds(make([]byte, 0, leases.EncodedSize(req.Cmds)), req.Cmds))
	case len(req.Events) > 0:
		// The leader stamps the time: publish times, delivery deadlines
		// and their expiry all read one clock while it leads, kept
		// continuous with its predecessor's (member.eventTime).
		now := m.eventTime(s.node.Clock().Now())
		for i := range req.Events {
			req.Events[i].Now = now
		}
		resp.Events, err = s.proposeEvents(ctx, m, req.Events)
	case onlyOp(req.Cmds, leases.OpRenew):
		resp.Results, err = s.proposeBatched(ctx, m, req.Cmds)
	default:
		resp.Results, err = s.propose(ctx, m, req.Cmds)
	}
	var nl *raftgroup.NotLeaderError
	switch {
	case errors.As(err, &nl):
		return doResp{NotLeader: true, Leader: s.nameOf(nl.Leader), Group: m.group}, nil
	case errors.Is(err, raftgroup.ErrDropped) || errors.Is(err, raftgroup.ErrClosed):
		return doResp{NotLeader: true, Group: m.group}, nil
	}
	return resp, err
}

// serveLeave removes a member that is leaving, on the leader.
func (s *Service) serveLeave(ctx context.Context, _ string, req leaveReq) (doResp, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil || m.group != req.Group {
		return doResp{NotLeader: true}, nil
	}
	st, err := m.g.Status()
	if err != nil || st.State != raft.StateLeader {
		return doResp{NotLeader: true, Leader: s.nameOf(st.Leader)}, nil
	}
	if !slices.Contains(st.Voters, req.ID) && !slices.Contains(st.Learners, req.ID) {
		return doResp{}, nil // removed already
	}
	return doResp{}, m.g.ProposeConfChange(ctx, change(raftpb.ConfChangeRemoveNode, req.ID))
}

// handOver runs before this node leaves the cluster: a leader hands its
// leadership to another voter, and the member asks the leader to remove
// it, so that the group never counts on a member that is gone.
func (s *Service) handOver(ctx context.Context) {
	s.mu.Lock()
	m := s.m
	s.leaving = true
	s.mu.Unlock()
	s.setIDTag() // drops the ID tag: the autopilot adds this node no more
	if m == nil {
		return
	}
	removed := false // confirmed: the member's DataDir state is of no more use
	for ctx.Err() == nil {
		st, err := m.g.Status()
		if err == nil && roleOf(m, st) == "" {
			removed = true
			break
		}
		if err != nil {
			break
		}
		if st.State == raft.StateLeader {
			if to := s.successor(m, st); to != 0 {
				if err := m.g.TransferLeadership(ctx, to); err != nil {
					s.log.Debug("leadership not handed over", "err", err)
				}
			} else if len(st.Voters) <= 1 {
				break // the last voter: nobody to hand over to
			}
		} else if lead := s.nameOf(st.Leader); lead != "" {
			var resp doResp
			if err := s.node.Call(ctx, lead, methodLeave, leaveReq{Group: m.group, ID: m.id}, &resp); err == nil && !resp.NotLeader {
				removed = true
				break
			}
		}
		t := time.NewTimer(s.opt.tick)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	// The last voter, or one whose removal was not confirmed, keeps its
	// state in the DataDir: a restart on it goes on as that member.
	fate := keepState
	if removed {
		fate = forgetState
	}
	s.leaveMember(m, "leaving the cluster", fate)
}

// successor picks the caught-up voter to hand leadership to.
func (s *Service) successor(m *member, st raftgroup.Status) uint64 {
	for _, id := range st.Voters {
		if id != m.id && st.CaughtUp(id, maxLag) && s.nameOf(id) != "" {
			return id
		}
	}
	return 0
}
