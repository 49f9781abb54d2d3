package voters

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// member is this node's Raft member of one group, and the lease table
// it replicates.
type member struct {
	group   uint64 // the group's ID: the base of its tokens
	id      uint64 // this member's Raft ID
	g       *raftgroup.Group
	table   *leases.Table
	events  *eventlog.Table
	stamps  *stampSeen // the latest event time applied here, and when
	started time.Time
	seen    bool   // its own ID appeared in the applied configuration
	via     string // the node whose message started it ("" for a founder's)
	led     bool   // its group has had a leader: its role is gossiped from then on
	// heard is when it last knew the leader that gossip names (or
	// gossip named none); the loop's.
	heard time.Time
	// renewals gathers the renewals this member proposes as leader.
	renewals batcher
	// cfg is the configuration (voters and learners) seen at the last
	// step, and removed the IDs that left it since, each kept while
	// gossip still names it: a leader never adds one back, though a
	// removed node may gossip its old ID for a while yet.
	cfg     []uint64
	removed map[uint64]bool
	// clock is the time this member stamps event commands with as
	// leader (eventTime).
	clock eventClock
}

// eventClock keeps the time a leader stamps event commands with
// continuous across leader changes.
type eventClock struct {
	mu    sync.Mutex
	term  uint64    // the term it was set in
	base  int64     // the log's time at start
	start time.Time // this node's clock then (its monotonic reading counts)
}

// eventTime returns the time to stamp event commands with, as leader:
// the log's time, which goes on from one leader to the next. At the
// start of a term this member leads it takes the latest time it applied
// from the log, plus the time its clock says passed since it applied
// it (its own clock's reading if it applied none), and from then on
// adds the time its clock's monotonic reading says passed. So the
// log's time follows the time that passes, at the rate of the leader's
// clock, whatever the leaders' clocks read or how they are stepped: a
// delivery deadline passes AckWait after its hand-out, neither later
// nor earlier for a difference of readings. It never goes back: a stamp
// below the latest in the log is raised to it.
func (m *member) eventTime(now time.Time) int64 {
	last := m.events.LastNow()
	l := m.g.Leader() // may lag a Ready: only a term this member leads sets the clock
	c := &m.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.ID == m.id && l.Term != c.term || c.start.IsZero() {
		c.term, c.base, c.start = l.Term, now.UnixNano(), now
		if seenNow, seenAt := m.stamps.get(); seenNow != 0 {
			c.base = seenNow + int64(now.Sub(seenAt))
		}
	}
	return max(c.base+int64(now.Sub(c.start)), last)
}

// noteRemoved records the IDs that left the configuration since the
// last step, and forgets those that gossip no longer names.
func (m *member) noteRemoved(cfg []uint64, v view) {
	for _, id := range m.cfg {
		if !slices.Contains(cfg, id) {
			if m.removed == nil {
				m.removed = map[uint64]bool{}
			}
			m.removed[id] = true
		}
	}
	m.cfg = cfg
	if len(m.removed) == 0 {
		return
	}
	named := slices.Concat(slices.Collect(maps.Values(v.ids)), slices.Collect(maps.Values(v.leaving)))
	for id := range m.removed {
		if !slices.Contains(named, id) {
			delete(m.removed, id)
		}
	}
}

// startMember starts this incarnation's member of group: the group's
// first voter when voters is set, else an empty member that a leader
// is adding.
// With a DataDir, the member is named in the node's store first, and
// keeps its Raft state there. s.mu is held.
func (s *Service) startMember(group uint64, voters []uint64) (*member, error) {
	dir := ""
	if st := s.mem.store; st != nil {
		var err error
		if dir, err = st.setMember(group, s.rid); err != nil {
			return nil, err
		}
	}
	return s.runMember(group, voters, dir)
}

// runMember starts member s.rid of group, with its Raft state in dir
// ("" for memory): the group's first voters when voters is set, else a
// member that a leader is adding, or one that dir holds.
func (s *Service) runMember(group uint64, voters []uint64, dir string) (*member, error) {
	t, ev, seen := leases.New(), eventlog.New(eventRetention), &stampSeen{}
	g, err := raftgroup.Start(raftgroup.Config{
		ID:           s.rid,
		Dir:          dir,
		Voters:       voters,
		Transport:    groupTransport{s: s, group: group},
		StateMachine: machine{t, ev, s.node.Clock(), seen},
		Logger:       s.log,
		// A heartbeat every other tick (20 ms), five per shortest
		// election timeout (10 ticks): heartbeats are most of an idle
		// group's messages, and a follower hears of the leader with
		// every append besides.
		HeartbeatTick: 2,
	})
	if err != nil {
		return nil, err
	}
	now := s.node.Clock().Now()
	return &member{group: group, id: s.rid, g: g, table: t, events: ev, stamps: seen, started: now, heard: now}, nil
}

// memberFor returns the member that messages for Raft ID to of group go
// to. A node with no member that is addressed by its own ID starts an
// empty one: a leader is adding it as a learner, or a founder made it
// one of the first voters. from, the sender, is remembered (member.via).
func (s *Service) memberFor(group, to uint64, from string) *member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to != s.rid || s.ctx.Err() != nil {
		return nil
	}
	if s.m != nil {
		if s.m.group == group {
			return s.m // also while leaving: it hands over through it
		}
		return nil
	}
	if s.leaving {
		return nil
	}
	m, err := s.startMember(group, nil)
	if err != nil {
		s.log.Warn("voter member not started", "err", err)
		return nil
	}
	m.via = from
	s.m = m
	return m
}

// found starts a new group with the given first voters (this node's ID
// first) and proposes its founding entry: tokens start above the wall
// clock in microseconds, so that they stay above every token of an
// earlier group (see the package doc).
func (s *Service) found(voters []uint64) {
	// The group's ID and the base of its tokens: the time in
	// microseconds, its low 10 bits (about a millisecond) from the
	// founder's Raft ID, so that two nodes that found in the same
	// microsecond (two sides of a partition; every node of a test on a
	// virtual clock) found groups with different IDs.
	s.mu.Lock()
	base := uint64(time.Now().UnixMicro())&^1023 | s.rid&1023
	if s.m != nil || s.ctx.Err() != nil || s.leaving {
		s.mu.Unlock()
		return
	}
	if len(voters) == 0 || voters[0] != s.rid {
		s.mu.Unlock()
		return // this node restarted its member meanwhile
	}
	m, err := s.startMember(base, voters)
	if err != nil {
		s.mu.Unlock()
		s.log.Warn("voter group not founded", "err", err)
		return
	}
	s.m = m
	s.mu.Unlock()
	s.log.Info("founded the voter group", "group", strconv.FormatUint(base, 16))
	s.spawn(func() {
		for s.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(s.ctx, time.Second)
			_, err := s.propose(ctx, m, []leases.Cmd{{Op: leases.OpFound, Token: base}})
			cancel()
			if err == nil || !m.table.Quiet() {
				return
			}
			t := time.NewTimer(s.opt.tick) // no leader yet: try again
			select {
			case <-t.C:
			case <-s.ctx.Done():
			}
			t.Stop()
		}
	})
}

// dropMember stops the member and takes a new Raft ID: the old one may
// have voted and must never be used again (a removed ID cannot come
// back).
//
// With a DataDir, the member is forgotten there too (see leaveMember).
func (s *Service) dropMember(m *member, why string) { s.leaveMember(m, why, forgetState) }

// What leaveMember does with a member's DataDir state.
type stateFate int

const (
	// forgetState removes it: the member left the configuration (or
	// never was in one that granted anything: a group never founded,
	// one that dissolves into an older one).
	forgetState stateFate = iota
	// keepState leaves it, for the next process on the DataDir to go
	// on as the member (a hand-over whose removal was not confirmed, the
	// last voter), until this one starts a new member (setMember
	// replaces it).
	keepState
	// retireState sets it aside (store.setAside): the member's group
	// stopped on an error, perhaps a failed write or fsync, after which
	// what the files hold may not be what the member vouched for.
	retireState
)

// leaveMember stops member m and takes a new Raft ID, and does with its
// DataDir state what fate says.
func (s *Service) leaveMember(m *member, why string, fate stateFate) {
	s.mu.Lock()
	if s.m != m {
		s.mu.Unlock()
		return
	}
	s.m = nil
	s.rid = newID()
	s.mu.Unlock()
	s.log.Info("left the voter group", "group", strconv.FormatUint(m.group, 16), "why", why)
	m.g.Close()
	var err error
	switch st := s.mem.store; {
	case st == nil:
	case fate == forgetState:
		err = st.clearMember(m.id)
	case fate == retireState:
		err = st.setAside(m.id)
	}
	if err != nil {
		s.log.Warn("the left member's state not removed from the data dir", "err", err)
	}
	s.setIDTag()
	s.setRole("")
}

// propose applies cmds as one entry through m and returns their results.
func (s *Service) propose(ctx context.Context, m *member, cmds []leases.Cmd) ([]leases.Result, error) {
	return proposeEntry[[]leases.Result](ctx, m, leases.AppendCmds(make([]byte, 0, leases.EncodedSize(cmds)), cmds))
}

// proposeEvents proposes cmds as one entry of the event log and returns
// their results.
func (s *Service) proposeEvents(ctx context.Context, m *member, cmds []eventlog.Cmd) ([]eventlog.Result, error) {
	entry, err := appendEventCmds(nil, cmds)
	if err != nil {
		return nil, err
	}
	return proposeEntry[[]eventlog.Result](ctx, m, entry)
}

// proposeEntry proposes entry through m and returns what the machine's
// Apply returned for it, a value of type R or an error.
func proposeEntry[R any](ctx context.Context, m *member, entry []byte) (R, error) {
	var zero R
	_, res, err := m.g.Propose(ctx, entry)
	if err != nil {
		return zero, err
	}
	switch r := res.(type) {
	case R:
		return r, nil
	case error:
		return zero, r
	}
	return zero, fmt.Errorf("voters: unexpected result %T", res)
}

// view is what gossip says of the voter group.
type view struct {
	ids     map[string]uint64 // alive members running the service: their Raft IDs
	leaving map[string]uint64 // alive members handing over before they leave: no candidates
	group   uint64            // the lowest group an alive member is in (0: none)
	leader  string            // that group's leader, by its tag
	members []string          // that group's members (voters and learners), by their tags
	others  bool              // an alive member is in a higher group
	led     bool              // an alive member's tag says it leads a group (any group)
}

// observe derives the view from members, read at the given
// MembersVersion, and keeps it for currentView.
func (s *Service) observe(version uint64, members []cluster.Member) view {
	v := view{ids: map[string]uint64{}, leaving: map[string]uint64{}}
	groups := map[uint64]bool{}
	type role struct {
		name  string
		group uint64
		role  string
	}
	var roles []role
	for _, m := range members {
		tag, leaving := strings.CutPrefix(m.Tags[tagID], "-")
		if id, err := strconv.ParseUint(tag, 16, 64); err == nil && id != 0 {
			if leaving {
				v.leaving[m.Name] = id
			} else {
				v.ids[m.Name] = id
			}
		}
		g, r, ok := strings.Cut(m.Tags[tagRole], "/")
		if !ok {
			continue
		}
		if gid, err := strconv.ParseUint(g, 16, 64); err == nil {
			groups[gid] = true
			roles = append(roles, role{m.Name, gid, r})
			v.led = v.led || r == "l"
		}
	}
	for g := range groups {
		if v.group == 0 || g < v.group {
			v.group = g
		}
	}
	v.others = len(groups) > 1
	for _, r := range roles {
		if r.group != v.group {
			continue
		}
		v.members = append(v.members, r.name)
		if r.role == "l" {
			v.leader = r.name
		}
	}
	slices.Sort(v.members)
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.names)
	for _, ids := range []map[string]uint64{v.ids, v.leaving} {
		for name, id := range ids {
			s.names[id], s.known[id] = name, name
		}
	}
	s.view, s.viewSeen, s.viewVersion = v, true, version
	s.mem.saw(v.led) // whenever a leader shows, not only when the loop looks
	return v
}

// nameOf returns the node whose incarnation has Raft ID id, by gossip.
func (s *Service) nameOf(id uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[id]
}

// roleOf returns the role tag for member m in status st ("" if it is
// not in the configuration).
func roleOf(m *member, st raftgroup.Status) string {
	r := ""
	switch {
	case st.Leader == m.id && slices.Contains(st.Voters, m.id):
		r = "l"
	case slices.Contains(st.Voters, m.id) || slices.Contains(st.VotersOutgoing, m.id):
		r = "v"
	case slices.Contains(st.Learners, m.id):
		r = "r"
	default:
		return ""
	}
	return strconv.FormatUint(m.group, 16) + "/" + r
}
