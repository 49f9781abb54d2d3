package raftgroup

import (
	"cmp"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// Spare followers. To commit an entry the leader needs the acks of
// len(voters)/2 followers; raft sends every append to every follower at
// once, so with five voters two of the four acks of each entry, and the
// work of two followers, do not count. The leader therefore keeps an
// eager set of the followers it needs, sends them every message at
// once, and holds its appends to the other voters (the spares) until
// the next tick (at most TickInterval), merging the appends that follow
// one another into one message. Under load a spare then gets one
// message per tick instead of one per entry, and answers once.
//
// Why this is safe: raft's safety never depends on when, or whether, a
// message arrives. A merged append is what raft would send, and a
// follower that handles it ends in the state it would reach handling the
// two appends in order (the second's previous entry is the first's last
// one, so it matches once the first's entries are in), answering as it
// would to the second; the answer to the first is as if lost. (A
// follower that already committed past the first's previous entry drops
// a whole append, raft's rule for stale ones: the merge is then dropped
// as if the second were lost. Only followers in StateReplicate are held,
// whose match, and so commit, is at most that entry.) Every
// other message to a spare first sends what is held, so a spare gets its
// messages in the order raft sent them.
//
// What it costs: a spare's log may be a tick behind the eager
// followers'. The eager set is sticky: a member stays in it while it
// has answered anything (an append, a heartbeat) within the last
// HeartbeatTick+1 ticks; one that has not is swapped for the spare that
// answered last. Until then (at most that many ticks) entries commit
// with a spare's ack, at the next tick. Learners (not counted in any
// majority) are never held back, nor is anything in a joint
// configuration, whose two majorities the eager set is not chosen for,
// nor appends to a follower the leader is probing or sending a snapshot
// to (not in raft's StateReplicate): it is catching up, and each of its
// round trips would wait for a tick.
type spares struct {
	ticks   uint64            // ticks of this member's loop
	heard   map[uint64]uint64 // tick of each peer's last answer
	eager   []uint64          // the followers sent to at once
	eagerOf *raftpb.ConfState // the configuration eager was chosen in
	held    map[uint64]*raftpb.Message
	// owned is, per member, the held append that mergeApps made: no one
	// else refers to it until it is sent, so later appends extend it in
	// place. It leaves owned when it leaves held: one that was sent is
	// never touched again, and not kept.
	owned map[uint64]*raftpb.Message
}

// maxHeldEntries and maxHeldBytes (of entry data) bound what is held
// for one spare: beyond, it is sent at once. The bytes stay well below
// the transport's frame limit, which raft's own MaxSizePerMsg (1 MiB)
// respects for the appends it makes.
const (
	maxHeldEntries = 256
	maxHeldBytes   = 512 << 10
)

// heardFrom notes an answer from a peer.
func (s *spares) heardFrom(m *raftpb.Message) {
	switch m.GetType() {
	case raftpb.MsgAppResp, raftpb.MsgHeartbeatResp:
		if s.heard == nil {
			s.heard = map[uint64]uint64{}
		}
		s.heard[m.GetFrom()] = s.ticks
	}
}

// route returns the messages of msgs to send now, holding appends to
// spares (and sending what was held before anything else to the same
// member). cs is the applied configuration, self this member's ID, and
// streaming lists the followers the leader replicates to optimistically
// (raft's StateReplicate); it is called once, when needed.
func (s *spares) route(msgs []*raftpb.Message, cs *raftpb.ConfState, self, staleAfter uint64, streaming func() []uint64) []*raftpb.Message {
	var out []*raftpb.Message
	var replicating []uint64
	for i, m := range msgs {
		to := m.GetTo()
		if m.GetType() == raftpb.MsgApp && s.isSpare(to, cs, self, staleAfter) {
			if replicating == nil {
				replicating = append(streaming(), 0) // not nil once asked
			}
			if slices.Contains(replicating, to) {
				if out == nil {
					out = slices.Clone(msgs[:i])
				}
				out = s.hold(out, m)
				continue
			}
		}
		if h := s.held[to]; h != nil {
			delete(s.held, to)
			delete(s.owned, to)
			if out == nil {
				out = slices.Clone(msgs[:i])
			}
			out = append(out, h)
		}
		if out != nil {
			out = append(out, m)
		}
	}
	if out == nil {
		return msgs // nothing held: most calls
	}
	return out
}

// hold merges m into what is held for its member, sending the held
// message first (appended to out) when m does not follow it.
func (s *spares) hold(out []*raftpb.Message, m *raftpb.Message) []*raftpb.Message {
	to := m.GetTo()
	h := s.held[to]
	if h != nil {
		if h == s.owned[to] && follows(h, m) && entryBytes(h.GetEntries())+entryBytes(m.GetEntries()) <= maxHeldBytes {
			// A merge of this member's, not yet sent: extend it in
			// place rather than copy every held entry again.
			h.Entries = append(h.Entries, m.GetEntries()...)
			h.Commit = ptr(max(h.GetCommit(), m.GetCommit()))
		} else if merged := mergeApps(h, m); merged != nil && entryBytes(merged.GetEntries()) <= maxHeldBytes {
			h = merged
			if s.owned == nil {
				s.owned = map[uint64]*raftpb.Message{}
			}
			s.owned[to] = h
		} else {
			out = append(out, h)
			h = m
			delete(s.owned, to)
		}
	} else {
		h = m
	}
	if len(h.GetEntries()) >= maxHeldEntries {
		delete(s.held, to)
		delete(s.owned, to)
		return append(out, h)
	}
	if s.held == nil {
		s.held = map[uint64]*raftpb.Message{}
	}
	s.held[to] = h
	return out
}

// flush returns everything held, in member order, and holds nothing.
func (s *spares) flush() []*raftpb.Message {
	if len(s.held) == 0 {
		return nil
	}
	out := make([]*raftpb.Message, 0, len(s.held))
	for _, m := range s.held {
		out = append(out, m)
	}
	clear(s.held)
	clear(s.owned)
	slices.SortFunc(out, func(a, b *raftpb.Message) int { return cmp.Compare(a.GetTo(), b.GetTo()) })
	return out
}

// isSpare reports whether appends to member to are held back.
func (s *spares) isSpare(to uint64, cs *raftpb.ConfState, self, staleAfter uint64) bool {
	voters := cs.GetVoters()
	if len(cs.GetVotersOutgoing()) > 0 || !slices.Contains(voters, to) || !slices.Contains(voters, self) {
		return false
	}
	need := len(voters) / 2 // followers whose acks make a majority with the leader's
	if need >= len(voters)-1 {
		return false // every follower is needed
	}
	s.choose(voters, self, need, staleAfter, cs)
	return !slices.Contains(s.eager, to)
}

// choose keeps the eager set: the members of it that are still voters
// and answered within staleAfter ticks stay; the rest of the places go
// to the other voters that answered last (lowest ID first on a tie).
func (s *spares) choose(voters []uint64, self uint64, need int, staleAfter uint64, cs *raftpb.ConfState) {
	fresh := func(id uint64) bool {
		t, ok := s.heard[id]
		return ok && s.ticks-t <= staleAfter
	}
	if s.eagerOf == cs && len(s.eager) == need && !slices.ContainsFunc(s.eager, func(id uint64) bool { return !fresh(id) }) {
		return // most calls
	}
	if s.eagerOf != cs {
		for id := range s.heard { // forget members that left
			if !slices.Contains(voters, id) && !slices.Contains(cs.GetLearners(), id) {
				delete(s.heard, id)
			}
		}
	}
	kept := s.eager[:0]
	for _, id := range s.eager {
		if slices.Contains(voters, id) && id != self && fresh(id) && len(kept) < need {
			kept = append(kept, id)
		}
	}
	var rest []uint64
	for _, id := range voters {
		if id != self && !slices.Contains(kept, id) {
			rest = append(rest, id)
		}
	}
	slices.SortStableFunc(rest, func(a, b uint64) int {
		ha, oka := s.heard[a]
		hb, okb := s.heard[b]
		switch {
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		case ha != hb:
			return cmp.Compare(hb, ha) // the latest first
		}
		return cmp.Compare(a, b)
	})
	s.eager = append(kept, rest[:need-len(kept)]...)
	s.eagerOf = cs
}

// mergeApps returns the append that does what a then b do, or nil when
// b does not follow a: same sender, addressee and term, and b's previous
// entry is a's last one.
func mergeApps(a, b *raftpb.Message) *raftpb.Message {
	if !follows(a, b) {
		return nil
	}
	ents := a.GetEntries()
	// Room to grow: hold appends the next ones in place (see owned).
	merged := make([]*raftpb.Entry, 0, 2*(len(ents)+len(b.GetEntries())))
	merged = append(append(merged, ents...), b.GetEntries()...)
	return &raftpb.Message{
		Type:    a.Type,
		From:    a.From,
		To:      a.To,
		Term:    a.Term,
		LogTerm: a.LogTerm,
		Index:   a.Index,
		Entries: merged,
		Commit:  ptr(max(a.GetCommit(), b.GetCommit())),
	}
}

// follows reports whether append b continues append a: same sender,
// addressee and term, and b's previous entry is a's last one.
func follows(a, b *raftpb.Message) bool {
	if a.GetType() != raftpb.MsgApp || b.GetType() != raftpb.MsgApp ||
		a.GetFrom() != b.GetFrom() || a.GetTo() != b.GetTo() || a.GetTerm() != b.GetTerm() {
		return false
	}
	ents := a.GetEntries()
	last, lastTerm := a.GetIndex(), a.GetLogTerm()
	if n := len(ents); n > 0 {
		last, lastTerm = ents[n-1].GetIndex(), ents[n-1].GetTerm()
	}
	return b.GetIndex() == last && b.GetLogTerm() == lastTerm
}

func ptr[T any](v T) *T { return &v }

func entryBytes(ents []*raftpb.Entry) int {
	n := 0
	for _, e := range ents {
		n += len(e.GetData())
	}
	return n
}
