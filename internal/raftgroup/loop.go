package raftgroup

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// maxBatch bounds how many inbound messages and calls the loop takes
// before it handles a Ready, so that proposals are batched under load
// without starving ticks.
const maxBatch = 256

// loopState is what only the loop goroutine touches.
type loopState struct {
	rn *raft.RawNode

	seq       uint64      // last proposal seq allocated by this member
	order     []uint64    // seqs of proposals waiting, increasing (may hold resolved ones)
	confCheck []uint64    // seqs of configuration changes proposed since the last Ready
	joint     []*waiter   // configuration changes applied, waiting for the joint config to be left
	transfers []*transfer // leadership transfers under way
	idleTicks int         // ticks with proposals waiting and none of ours applied

	// Replicated state, the same on every member at the same applied index.
	table     map[uint64]uint64 // highest applied seq of each member in the configuration
	members   map[uint64]bool   // members of the applied configuration
	confState *raftpb.ConfState // the applied configuration
	confIndex uint64            // the log index of its entry; 0 if it came by snapshot

	applied   uint64 // index of the last applied entry
	snapIndex uint64 // index of the last snapshot taken or installed
	nextSnap  uint64 // applied index at which to take the next snapshot
	diskErr   error  // the Dir failed in a way that stops the member
	snapSize  int    // bytes of the last snapshot taken or installed
	sinceSnap int    // bytes of the entries applied since
	snapNow   bool   // a member was added: snapshot after this batch
	lead      uint64 // leader as of the last Ready
	term      uint64 // term as of the last Ready
	snapsSent []uint64
	spares    spares // appends held back for the spare followers
}

type transfer struct {
	to    uint64
	ticks int // left before it counts as failed
	ch    chan error
}

func newLoopState(rn *raft.RawNode) loopState {
	return loopState{
		rn:        rn,
		table:     map[uint64]uint64{},
		members:   map[uint64]bool{},
		confState: &raftpb.ConfState{},
	}
}

func (g *Group) run() {
	defer close(g.stopped)
	ticker := time.NewTicker(g.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-g.done:
			g.shutdown(nil)
			return
		case <-ticker.C:
			g.tick()
		case m := <-g.inbox:
			g.step(m)
		case f := <-g.ops:
			f()
		}
		g.drain()
		if err := g.handleReadies(); err != nil {
			g.log.Error("raftgroup: member stopped", "err", err)
			g.shutdown(err)
			return
		}
	}
}

// drain takes what else is queued, up to maxBatch items.
func (g *Group) drain() {
	for range maxBatch {
		select {
		case m := <-g.inbox:
			g.step(m)
		case f := <-g.ops:
			f()
		default:
			return
		}
	}
}

func (g *Group) step(m *raftpb.Message) {
	g.spares.heardFrom(m)
	if err := g.rn.Step(m); err != nil {
		g.log.Debug("raftgroup: message not stepped", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

func (g *Group) tick() {
	g.spares.ticks++
	if held := g.spares.flush(); len(held) > 0 {
		g.cfg.Transport.Send(held) // before this tick's heartbeats
	}
	g.rn.Tick()
	g.mu.Lock()
	waiting := len(g.mu.pending) > 0
	g.mu.Unlock()
	if !waiting {
		g.idleTicks = 0
	} else if g.idleTicks++; g.idleTicks >= 2*g.cfg.ElectionTick {
		// A forwarded proposal may have been lost: a fence that gets
		// applied retires every older proposal of ours.
		g.idleTicks = 0
		g.fence()
	}
	kept := g.transfers[:0]
	for _, t := range g.transfers {
		if t.ticks--; t.ticks <= 0 {
			t.ch <- ErrTransferFailed
			continue
		}
		kept = append(kept, t)
	}
	g.transfers = kept
}

// handleReadies handles Ready structs until raft has none.
func (g *Group) handleReadies() error {
	for g.rn.HasReady() {
		if err := g.handleReady(); err != nil {
			return err
		}
	}
	return nil
}

func (g *Group) handleReady() error {
	rd := g.rn.Ready()
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := g.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := g.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("raftgroup: append: %w", err)
	}
	g.checkConfProposals(rd.Entries)
	if rd.HardState != nil {
		if err := g.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("raftgroup: hard state: %w", err)
		}
		g.term = rd.HardState.GetTerm()
	}
	if err := g.disk.save(rd.HardState, rd.Entries); err != nil {
		return err // nothing may be sent that vouches for what is not on disk
	}
	g.send(rd.Messages)
	g.apply(rd.CommittedEntries)
	g.rn.Advance(rd)
	for _, to := range g.snapsSent {
		// The transport cannot tell; if the snapshot was lost, the
		// follower rejects the next append and gets another one.
		g.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}
	g.snapsSent = g.snapsSent[:0]
	lead := g.lead
	if rd.SoftState != nil {
		lead = rd.SoftState.Lead
	}
	g.observeLeader(lead)
	g.maybeSnapshot()
	return g.diskErr
}

func (g *Group) send(msgs []*raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			g.snapsSent = append(g.snapsSent, m.GetTo())
		}
	}
	if !g.cfg.NoSpares {
		msgs = g.spares.route(msgs, g.confState, g.cfg.ID, uint64(g.cfg.HeartbeatTick)+1, g.streaming)
	}
	g.cfg.Transport.Send(msgs)
}

// streaming returns the followers the leader sends appends to without
// waiting for answers (raft's StateReplicate).
func (g *Group) streaming() []uint64 {
	var ids []uint64
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pr.State == tracker.StateReplicate {
			ids = append(ids, id)
		}
	})
	return ids
}

// observeLeader publishes a new leader or term, fences proposals that a
// leader change may have lost, and settles leadership transfers.
func (g *Group) observeLeader(lead uint64) {
	g.mu.Lock()
	prev := g.mu.leader
	changed := prev.ID != lead || (lead != 0 && prev.Term != g.term)
	if changed {
		g.mu.leader = Leader{ID: lead, Term: g.term}
		for s := range g.mu.subs {
			s.publish(g.mu.leader)
		}
	}
	waiting := len(g.mu.pending) > 0
	g.mu.Unlock()
	if lead != g.lead && lead != 0 && waiting {
		g.fence()
	}
	g.lead = lead
	kept := g.transfers[:0]
	for _, t := range g.transfers {
		switch {
		case lead == t.to:
			t.ch <- nil
		case lead != 0 && lead != g.cfg.ID:
			t.ch <- fmt.Errorf("%w: %d leads", ErrTransferFailed, lead)
		default:
			kept = append(kept, t)
		}
	}
	g.transfers = kept
}

// propose runs on the loop for Propose.
func (g *Group) propose(w *waiter, data []byte) {
	seq, ok := g.register(w)
	if !ok {
		return
	}
	h := header{kind: kindData, proposer: g.cfg.ID, seq: seq}
	entry := append(h.append(make([]byte, 0, 24+len(data))), data...)
	if err := g.rn.Propose(entry); err != nil {
		g.resolve(seq, outcome{err: g.dropped(err)})
	}
}

// proposeAppended runs on the loop for ProposeAppended: w waits for
// nobody, but its seq orders the entry among this member's proposals.
func (g *Group) proposeAppended(w *waiter, data []byte) error {
	if st := g.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		return &NotLeaderError{Leader: st.Lead}
	}
	seq, _ := g.register(w)
	h := header{kind: kindData, proposer: g.cfg.ID, seq: seq}
	if err := g.rn.Propose(append(h.append(make([]byte, 0, 24+len(data))), data...)); err != nil {
		err = g.dropped(err)
		g.resolve(seq, outcome{err: err})
		return err
	}
	return nil
}

// proposeConf runs on the loop for ProposeConfChange.
func (g *Group) proposeConf(w *waiter, cc *raftpb.ConfChangeV2) {
	if st := g.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		w.ch <- outcome{err: &NotLeaderError{Leader: st.Lead}}
		return
	}
	if err := validateConfChange(g.confState, cc); err != nil {
		w.ch <- outcome{err: err}
		return
	}
	seq, ok := g.register(w)
	if !ok {
		return
	}
	cc.Context = header{kind: kindConf, proposer: g.cfg.ID, seq: seq}.append(nil)
	if err := g.rn.ProposeConfChange(cc); err != nil {
		g.resolve(seq, outcome{err: g.dropped(err)})
		return
	}
	g.confCheck = append(g.confCheck, seq)
}

// checkConfProposals fails, at once, the configuration changes this
// leader proposed that raft replaced by an empty entry because another
// change is pending: they are not among the appended entries.
func (g *Group) checkConfProposals(appended []*raftpb.Entry) {
	if len(g.confCheck) == 0 {
		return
	}
	found := map[uint64]bool{}
	for _, e := range appended {
		if e.GetType() != raftpb.EntryConfChangeV2 {
			continue
		}
		cc, err := decodeConfChange(e)
		if err != nil {
			continue
		}
		if h, _, ok := decodeHeader(cc.AsV2().GetContext()); ok && h.proposer == g.cfg.ID {
			found[h.seq] = true
		}
	}
	for _, seq := range g.confCheck {
		if !found[seq] {
			g.resolve(seq, outcome{err: fmt.Errorf("%w: another configuration change is pending", ErrDropped)})
		}
	}
	g.confCheck = g.confCheck[:0]
}

func (g *Group) startTransfer(t *transfer) {
	st := g.rn.BasicStatus()
	switch {
	case st.RaftState != raft.StateLeader:
		t.ch <- &NotLeaderError{Leader: st.Lead}
	case t.to == g.cfg.ID:
		t.ch <- nil
	case !g.isVoter(t.to):
		t.ch <- fmt.Errorf("%w: %d is not a voter", ErrTransferFailed, t.to)
	default:
		t.ticks = g.cfg.ElectionTick + 2
		g.transfers = append(g.transfers, t)
		g.rn.TransferLeader(t.to)
	}
}

// fence proposes a no-op of this member; once applied, every older
// proposal of this member that is not applied never will be.
func (g *Group) fence() {
	g.seq++
	_ = g.rn.Propose(header{kind: kindFence, proposer: g.cfg.ID, seq: g.seq}.append(nil))
}

// dropped turns raft's refusal of a proposal into our error.
func (g *Group) dropped(err error) error {
	if !errors.Is(err, raft.ErrProposalDropped) {
		return fmt.Errorf("%w: %v", ErrDropped, err)
	}
	st := g.rn.BasicStatus()
	switch {
	case st.Lead == 0:
		return ErrNoLeader
	case st.LeadTransferee != 0:
		return fmt.Errorf("%w: leadership transfer to %d under way", ErrDropped, st.LeadTransferee)
	default:
		return fmt.Errorf("%w: %v", ErrDropped, err)
	}
}

// register allocates w's seq and makes it pending, unless its caller
// has given up.
func (g *Group) register(w *waiter) (uint64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.cancelled {
		return 0, false
	}
	if len(g.mu.pending) == 0 {
		g.order = g.order[:0]
	}
	g.seq++
	w.seq = g.seq
	g.mu.pending[w.seq] = w
	g.order = append(g.order, w.seq)
	return w.seq, true
}

// take removes and returns seq's waiter, nil if none.
func (g *Group) take(seq uint64) *waiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.mu.pending[seq]
	delete(g.mu.pending, seq)
	return w
}

func (g *Group) resolve(seq uint64, o outcome) {
	if w := g.take(seq); w != nil {
		w.ch <- o
	}
}

// retireUpTo resolves every waiting proposal with seq < upTo (and upTo
// itself when inclusive) with err: those can no longer be applied.
func (g *Group) retireUpTo(upTo uint64, inclusive bool, err error) {
	for len(g.order) > 0 && (g.order[0] < upTo || inclusive && g.order[0] == upTo) {
		g.resolve(g.order[0], outcome{err: err})
		g.order = g.order[1:]
	}
}

// shutdown fails everything that waits on the loop, which then returns.
func (g *Group) shutdown(err error) {
	g.err = err
	g.mu.Lock()
	pending := g.mu.pending
	g.mu.pending = map[uint64]*waiter{}
	g.mu.stopped = true
	for s, stop := range g.mu.subs {
		stop()
		close(s.ch)
	}
	clear(g.mu.subs)
	g.mu.Unlock()
	for _, w := range pending {
		w.ch <- outcome{err: ErrClosed}
	}
	for _, w := range g.joint {
		w.ch <- outcome{err: ErrClosed}
	}
	for _, t := range g.transfers {
		t.ch <- ErrClosed
	}
	g.joint, g.transfers = nil, nil
	if err := g.disk.close(); err != nil {
		g.log.Warn("raftgroup: close wal", "err", err)
	}
}
