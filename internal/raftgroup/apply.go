package raftgroup

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

var (
	// errRefused is the outcome of a proposal that reached the log but
	// was refused at apply time, identically on every member.
	errRefused = fmt.Errorf("%w: refused at apply (a duplicate, overtaken by a later proposal of its member, or its member is not in the configuration)", ErrDropped)
	// errOvertaken is the outcome of a proposal lost on its way (in a
	// leader change, or by the transport): a later one of its member
	// was applied first, so it never will be.
	errOvertaken = fmt.Errorf("%w: lost, a later proposal of its member was applied first", ErrDropped)
)

func (g *Group) apply(ents []*raftpb.Entry) {
	for _, e := range ents {
		switch e.GetType() {
		case raftpb.EntryNormal:
			g.applyNormal(e)
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			g.applyConf(e)
		}
		g.applied = e.GetIndex()
		g.sinceSnap += len(e.GetData()) + entryOverhead
	}
	if g.snapNow {
		// A member was added: the snapshot a leader would send it must
		// name it, or raft refuses to install it. So take one now, unless
		// the log was never compacted (the member then gets the log).
		g.snapNow = false
		if first, _ := g.storage.FirstIndex(); first > 1 {
			g.takeSnapshot(false)
		}
	}
}

// admit decides, from replicated state only, whether an entry of a
// proposal is applied: its member is in the configuration and has had
// no later proposal applied. So a duplicated or overtaken proposal is
// refused on every member alike, and once any proposal of a member is
// applied, none of its older ones can be.
func (g *Group) admit(h header) bool {
	if !g.members[h.proposer] || h.seq <= g.table[h.proposer] {
		return false
	}
	g.table[h.proposer] = h.seq
	return true
}

func (g *Group) applyNormal(e *raftpb.Entry) {
	if len(e.GetData()) == 0 {
		return // the empty entry of a new leader
	}
	h, payload, ok := decodeHeader(e.GetData())
	if !ok || h.kind == kindConf {
		g.log.Error("raftgroup: skipping an entry without a valid header", "index", e.GetIndex())
		return
	}
	var o outcome
	switch {
	case !g.admit(h):
		o.err = errRefused
	case h.kind == kindData:
		o = outcome{index: e.GetIndex(), result: g.sm.Apply(e.GetIndex(), payload)}
	}
	if h.proposer == g.cfg.ID {
		g.resolve(h.seq, o)
		g.ownApplied(h.seq)
	}
}

// ownApplied retires this member's proposals older than seq, which was
// just applied or refused.
func (g *Group) ownApplied(seq uint64) {
	g.idleTicks = 0
	g.retireUpTo(seq, true, errOvertaken)
}

func (g *Group) applyConf(e *raftpb.Entry) {
	cc, err := decodeConfChange(e)
	if err != nil {
		g.log.Error("raftgroup: skipping a malformed configuration change", "index", e.GetIndex(), "err", err)
		return
	}
	h, _, own := decodeHeader(cc.AsV2().GetContext())
	if own && !g.admit(h) {
		if h.proposer == g.cfg.ID {
			g.resolve(h.seq, outcome{err: errRefused})
			g.ownApplied(h.seq)
		}
		return
	}
	for _, c := range cc.AsV2().GetChanges() {
		added := c.GetType() == raftpb.ConfChangeAddNode || c.GetType() == raftpb.ConfChangeAddLearnerNode
		g.snapNow = g.snapNow || added && !g.members[c.GetNodeId()]
	}
	g.setConfState(g.rn.ApplyConfChange(cc))
	g.confIndex = e.GetIndex()
	g.log.Info("raftgroup: configuration changed", "index", e.GetIndex(),
		"change", raft.DescribeConfChange(cc), "voters", g.confState.GetVoters(),
		"outgoing", g.confState.GetVotersOutgoing(), "learners", g.confState.GetLearners())
	if own && h.proposer == g.cfg.ID {
		if w := g.take(h.seq); w != nil {
			g.joint = append(g.joint, w)
		}
		g.ownApplied(h.seq)
	}
	g.settleJoint()
}

// settleJoint resolves the configuration changes waiting for the joint
// configuration to be left, once it is (or is never to be left
// automatically).
func (g *Group) settleJoint() {
	if len(g.confState.GetVotersOutgoing()) > 0 && g.confState.GetAutoLeave() {
		return
	}
	for _, w := range g.joint {
		w.ch <- outcome{}
	}
	g.joint = g.joint[:0]
}

// setConfState records the applied configuration and forgets the
// proposal table of members that left it.
func (g *Group) setConfState(cs *raftpb.ConfState) {
	g.confState = cs
	clear(g.members)
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetVotersOutgoing(), cs.GetLearners(), cs.GetLearnersNext()} {
		for _, id := range ids {
			g.members[id] = true
		}
	}
	for id := range g.table {
		if !g.members[id] {
			delete(g.table, id)
		}
	}
}

func (g *Group) isVoter(id uint64) bool {
	return slices.Contains(g.confState.GetVoters(), id)
}

func decodeConfChange(e *raftpb.Entry) (raftpb.ConfChangeI, error) {
	if e.GetType() == raftpb.EntryConfChange {
		var cc raftpb.ConfChange
		return &cc, proto.Unmarshal(e.GetData(), &cc)
	}
	var cc raftpb.ConfChangeV2
	return &cc, proto.Unmarshal(e.GetData(), &cc)
}

// validateConfChange runs cc against the configuration cs as raft will
// when it applies it, so that a change raft would panic on is refused.
func validateConfChange(cs *raftpb.ConfState, cc *raftpb.ConfChangeV2) error {
	if _, ok := raftpb.ConfChangeTransition_name[int32(cc.GetTransition())]; !ok {
		return fmt.Errorf("%w: transition %d", ErrBadConfChange, cc.GetTransition())
	}
	for _, c := range cc.GetChanges() {
		if c.GetNodeId() == 0 || raft.IsLocalMsgTarget(c.GetNodeId()) {
			return fmt.Errorf("%w: member %d", ErrBadConfChange, c.GetNodeId())
		}
	}
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}
	cfg, trk, err := confchange.Restore(chg, cs)
	if err != nil {
		return fmt.Errorf("%w: current configuration: %v", ErrBadConfChange, err)
	}
	chg.Tracker.Config, chg.Tracker.Progress = cfg, trk
	if cc.LeaveJoint() {
		_, _, err = chg.LeaveJoint()
	} else if autoLeave, ok := cc.EnterJoint(); ok {
		_, _, err = chg.EnterJoint(autoLeave, cc.GetChanges()...)
	} else {
		_, _, err = chg.Simple(cc.GetChanges()...)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfChange, err)
	}
	return nil
}

// installSnapshot replaces this member's log and state with a snapshot
// the leader sent.
func (g *Group) installSnapshot(s *raftpb.Snapshot) error {
	if err := g.storage.ApplySnapshot(s); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("raftgroup: install snapshot: %w", err)
	}
	if g.disk != nil {
		// Before anything vouches for it; the entries after it come in
		// this Ready and are saved with its HardState.
		hs, _, _ := g.storage.InitialState()
		if err := g.disk.saveSnapshot(s, hs, nil); err != nil {
			return err
		}
	}
	if err := g.loadSnapshot(s); err != nil {
		return err
	}
	g.log.Info("raftgroup: installed a snapshot", "index", s.GetMetadata().GetIndex(), "voters", g.confState.GetVoters())
	// The snapshot covers our proposals up to table[ID]: applied or
	// refused, we cannot tell which.
	g.retireUpTo(g.table[g.cfg.ID], true, ErrUnknownOutcome)
	g.settleJoint()
	return nil
}

// loadSnapshot makes the state machine and the replicated state those
// of s: one the leader sent, or the one the member's Dir held at start.
func (g *Group) loadSnapshot(s *raftpb.Snapshot) error {
	table, state, err := decodeSnapshot(s.GetData())
	if err != nil {
		return err
	}
	if err := g.sm.Restore(state); err != nil {
		return fmt.Errorf("raftgroup: restore snapshot: %w", err)
	}
	index := s.GetMetadata().GetIndex()
	g.table = table
	g.setConfState(proto.Clone(s.GetMetadata().GetConfState()).(*raftpb.ConfState))
	g.confIndex = 0 // a snapshot does not say which entry made its configuration
	g.applied, g.snapIndex, g.nextSnap = index, index, index+g.cfg.SnapshotEntries
	g.snapSize, g.sinceSnap = len(s.GetData()), 0
	return nil
}

// maybeSnapshot takes a snapshot every SnapshotEntries applied entries;
// after a snapshot of more than bigSnapshot bytes, not before the
// entries applied since hold as many: a snapshot encodes the whole
// state, so a large state (an event log of many megabytes) is
// snapshotted that much less often, and its cost per byte applied stays
// bounded (about one encoding of each byte).
func (g *Group) maybeSnapshot() {
	if g.applied >= g.nextSnap && (g.snapSize <= bigSnapshot || g.sinceSnap >= g.snapSize) {
		g.takeSnapshot(true)
	}
}

// bigSnapshot is the size above which snapshots wait for bytes as well
// as entries; entryOverhead is what an entry costs in memory besides its
// data (so that many small entries count for what they hold).
const (
	bigSnapshot   = 1 << 20
	entryOverhead = 64
)

// takeSnapshot snapshots the state machine at the applied index and, with
// compact, compacts the log down to KeepEntries below it.
func (g *Group) takeSnapshot(compact bool) {
	g.nextSnap = g.applied + g.cfg.SnapshotEntries
	state, err := g.sm.Snapshot()
	if err != nil {
		g.log.Error("raftgroup: state machine snapshot failed; the log keeps growing", "err", err)
		return
	}
	data := encodeSnapshot(g.table, state)
	snap, err := g.storage.CreateSnapshot(g.applied, g.confState, data)
	if err != nil {
		g.log.Error("raftgroup: create snapshot", "index", g.applied, "err", err)
		return
	}
	g.snapIndex = g.applied
	g.snapSize, g.sinceSnap = len(data), 0
	g.persistSnapshot(snap)
	if !compact || g.applied <= g.cfg.KeepEntries {
		return
	}
	if err := g.storage.Compact(g.applied - g.cfg.KeepEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
		g.log.Error("raftgroup: compact", "index", g.applied-g.cfg.KeepEntries, "err", err)
	}
}

// persistSnapshot writes snap to the Dir with the entries after it, so
// the wal shrinks to them. A failure before the new wal replaces the old
// one costs only disk space (the old wal still holds every entry since
// the snapshot before); one after it stops the member (diskErr).
func (g *Group) persistSnapshot(snap *raftpb.Snapshot) {
	if g.disk == nil {
		return
	}
	hs, _, _ := g.storage.InitialState()
	first := snap.GetMetadata().GetIndex() + 1
	last, err := g.storage.LastIndex()
	var ents []*raftpb.Entry
	if err == nil && last >= first {
		if ents, err = g.storage.Entries(first, last+1, math.MaxUint64); err != nil {
			g.log.Error("raftgroup: entries after a snapshot", "err", err)
			return
		}
	}
	if err := g.disk.saveSnapshot(snap, hs, ents); err != nil {
		g.log.Error("raftgroup: save snapshot", "index", snap.GetMetadata().GetIndex(), "err", err)
		if errors.Is(err, errAfterSwap) {
			g.diskErr = err
		}
	}
}
