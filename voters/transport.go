package voters

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Outbound Raft traffic: one queue and one sender per peer, so that a
// slow or dead peer delays nobody else. Raft tolerates lost messages, so
// a full queue drops, and batches go as notifications (Notify: no reply
// frame, no wait). The receiver steps them on its connection's notice
// goroutine, in the order sent, so a member's messages are not reordered
// on their way.
const (
	peerQueue   = 1024
	maxBatch    = 256
	sendTimeout = 2 * time.Second
	peerIdle    = 10 * time.Second // a sender with nothing to send ends
	// commitHold is how long a sender keeps a batch of nothing but
	// commit notices (see isCommitNotice) in the hope that a later
	// append or heartbeat to the same member supersedes them. Raft's
	// leader heartbeats every 20 ms (see startMember) with the commit
	// index, so a notice is rarely sent at all, and a follower learns
	// a commit at most this much later.
	commitHold = 20 * time.Millisecond
)

type outMsg struct {
	group uint64
	m     *raftpb.Message
}

type outbox struct {
	s     *Service
	mu    sync.Mutex
	peers map[string]chan outMsg
	// pending counts, per peer, the messages queued or being delivered
	// by its sender, and direct the direct sends under way (sendNow):
	// a message goes directly only when both are zero, so it overtakes
	// none queued before it. (It can overtake a delivered one still in
	// the old connection's queue when the connection to the peer was
	// just replaced; Raft tolerates reordered and lost messages.)
	pending map[string]int
	direct  map[string]bool
}

// groupTransport is a member's raftgroup.Transport.
type groupTransport struct {
	s     *Service
	group uint64
}

func (t groupTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		name := t.s.nameOf(m.GetTo())
		if name == "" {
			continue // not known by gossip (yet): Raft sends again
		}
		om := outMsg{group: t.group, m: m}
		if !t.s.out.sendNow(name, om) {
			t.s.out.enqueue(name, om)
		}
	}
}

// sendNow sends m to name at once, from the Raft loop, when nothing is
// queued for name, its connection is open and has room (cluster's
// NotifyNow, which never waits), and m is not a commit notice (those
// wait in the queue for a later message to supersede them, see
// holdNotices). It saves the hand-over to the peer's sender goroutine,
// a wake-up on the path of every answer and of most appends. It
// reports false, having sent nothing, otherwise.
func (o *outbox) sendNow(name string, m outMsg) bool {
	if isCommitNotice(m.m) {
		return false
	}
	o.mu.Lock()
	if o.pending[name] > 0 || o.direct[name] || o.s.ctx.Err() != nil {
		o.mu.Unlock()
		return false
	}
	if o.direct == nil {
		o.direct = map[string]bool{}
	}
	o.direct[name] = true
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		delete(o.direct, name)
		o.mu.Unlock()
	}()
	b, err := proto.Marshal(m.m)
	if err != nil {
		return false
	}
	return o.s.node.NotifyNow(name, methodRaft, &raftBatch{Group: m.group, To: m.m.GetTo(), Msgs: [][]byte{b}})
}

func (o *outbox) enqueue(name string, m outMsg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := o.peers[name]
	if ch == nil {
		if o.s.ctx.Err() != nil {
			return
		}
		ch = make(chan outMsg, peerQueue)
		o.peers[name] = ch
		o.s.wg.Add(1)
		go o.send(name, ch)
	}
	select {
	case ch <- m:
		if o.pending == nil {
			o.pending = map[string]int{}
		}
		o.pending[name]++
	default: // full: dropped, as a lossy network would
	}
}

// delivered notes that name's sender took n messages off its queue and
// has delivered (or dropped) them.
func (o *outbox) delivered(name string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if left := o.pending[name] - n; left > 0 {
		o.pending[name] = left
	} else {
		delete(o.pending, name)
	}
}

// A sender delivers one peer's queue; its timers and its context are
// reused from batch to batch.
type sender struct {
	o    *outbox
	name string
	ch   chan outMsg
	hold *time.Timer // holdNotices's; stopped between uses
	// taken counts the messages of the batch being sent that were
	// taken off the queue, superseded ones included.
	taken int

	ctx    context.Context // bounds a batch's sending: dial and queueing
	cancel context.CancelFunc
	ctxEnd time.Time
}

// send delivers name's queue until the service closes or the queue
// stays empty for peerIdle.
func (o *outbox) send(name string, ch chan outMsg) {
	defer o.s.wg.Done()
	s := &sender{o: o, name: name, ch: ch, hold: time.NewTimer(commitHold)}
	s.hold.Stop()
	defer func() {
		if s.cancel != nil {
			s.cancel()
		}
	}()
	idle := time.NewTimer(peerIdle)
	defer idle.Stop()
	for {
		var first outMsg
		select {
		case first = <-ch:
		case <-idle.C:
			o.mu.Lock()
			if len(ch) > 0 { // a message arrived meanwhile
				o.mu.Unlock()
				idle.Reset(peerIdle)
				continue
			}
			delete(o.peers, name)
			o.mu.Unlock()
			return
		case <-o.s.ctx.Done():
			return
		}
		batch := []outMsg{first}
		for len(batch) < maxBatch && len(ch) > 0 {
			batch = append(batch, <-ch)
		}
		s.taken = len(batch)
		batch = s.holdNotices(batch)
		o.deliver(s.sendCtx(), name, batch)
		o.delivered(name, s.taken)
		idle.Reset(peerIdle)
	}
}

// sendCtx returns a context that ends between sendTimeout/2 and
// sendTimeout from now (or with the service): one per half timeout
// rather than one per batch.
func (s *sender) sendCtx() context.Context {
	if now := time.Now(); s.ctx == nil || s.ctxEnd.Sub(now) < sendTimeout/2 {
		if s.cancel != nil {
			s.cancel()
		}
		s.ctxEnd = now.Add(sendTimeout)
		s.ctx, s.cancel = context.WithDeadline(s.o.s.ctx, s.ctxEnd)
	}
	return s.ctx
}

// holdNotices drops the commit notices of batch that a later append or
// heartbeat to the same member supersedes and, when only notices are
// left, waits up to commitHold for more of the queue to supersede them
// too.
//
// Why: after each commit the Raft leader sends every follower an empty
// append that only carries the new commit index, and each follower
// answers it, which doubles the messages of every operation. A later
// append carries a commit index at least as high, and so does the next
// heartbeat of a follower that is caught up, so the notice adds nothing
// once one follows; dropping a message is a loss Raft is built
// to tolerate (safety never depends on delivery), and the notice is
// still sent when nothing supersedes it within commitHold.
func (s *sender) holdNotices(batch []outMsg) []outMsg {
	batch = supersede(batch)
	if !allNotices(batch) {
		return batch
	}
	s.hold.Reset(commitHold)
	defer s.hold.Stop()
	for len(batch) < maxBatch {
		select {
		case m := <-s.ch:
			s.taken++
			batch = supersede(append(batch, m))
			if !allNotices(batch) {
				return batch
			}
		case <-s.hold.C:
			return batch
		case <-s.o.s.ctx.Done():
			return batch
		}
	}
	return batch
}

// isCommitNotice reports whether m is an append without entries: the
// leader's commit notice (or a probe, which is held the same way).
func isCommitNotice(m *raftpb.Message) bool {
	return m.GetType() == raftpb.MsgApp && len(m.GetEntries()) == 0
}

func allNotices(batch []outMsg) bool {
	for _, om := range batch {
		if !isCommitNotice(om.m) {
			return false
		}
	}
	return true
}

// supersede removes every commit notice that a later message of the
// same group to the same member makes useless: an append (it carries the
// leader's commit index, which never goes back, and is answered just the
// same), or a heartbeat that carries a commit index at least as high as
// the notice's and at least its log index. The second bound matters: an
// empty append is also how the leader probes a follower, or frees its
// window of appends in flight after a heartbeat answer, and such an
// append names an index above the follower's match (which bounds the
// heartbeat's commit); dropping it would leave the follower stalled
// behind every later heartbeat. A notice to a caught-up follower names
// an index at or below the commit, so only it goes. The order of the
// rest is kept.
func supersede(batch []outMsg) []outMsg {
	if len(batch) < 2 {
		return batch // most batches: nothing can follow
	}
	type dest struct{ group, to uint64 }
	const appended = ^uint64(0) // an append follows: every commit is carried
	var later map[dest]uint64   // the highest commit index a later message carries
	keep := batch[:0:0]
	for i := len(batch) - 1; i >= 0; i-- {
		om := batch[i]
		typ := om.m.GetType()
		if typ != raftpb.MsgApp && typ != raftpb.MsgHeartbeat {
			keep = append(keep, om)
			continue
		}
		d := dest{om.group, om.m.GetTo()}
		if c, ok := later[d]; ok && isCommitNotice(om.m) && c >= om.m.GetCommit() && c >= om.m.GetIndex() {
			continue
		}
		if later == nil {
			later = map[dest]uint64{}
		}
		if typ == raftpb.MsgApp {
			later[d] = appended
		} else {
			later[d] = max(later[d], om.m.GetCommit())
		}
		keep = append(keep, om)
	}
	slices.Reverse(keep)
	return keep
}

func (o *outbox) deliver(ctx context.Context, name string, batch []outMsg) {
	type dest struct{ group, to uint64 }
	byDest := map[dest]*raftBatch{}
	var order []dest
	for _, om := range batch {
		b, err := proto.Marshal(om.m)
		if err != nil {
			o.s.log.Warn("raft message not encoded", "err", err)
			continue
		}
		d := dest{om.group, om.m.GetTo()}
		rb := byDest[d]
		if rb == nil {
			rb = &raftBatch{Group: d.group, To: d.to}
			byDest[d] = rb
			order = append(order, d)
		}
		rb.Msgs = append(rb.Msgs, b)
	}
	for _, d := range order {
		err := o.s.node.Notify(ctx, name, methodRaft, byDest[d])
		if err != nil && o.s.ctx.Err() == nil {
			o.s.log.Debug("raft messages not delivered", "to", name, "n", len(byDest[d].Msgs), "err", err)
		}
	}
}

// knownName returns the node of Raft ID id: an alive member's by gossip,
// or the last name known for a member of the configuration.
func (s *Service) knownName(id uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.names[id]; n != "" {
		return n
	}
	return s.known[id]
}

// receive steps the messages of b into the addressed member, starting
// an empty one (a learner about to be added) when this node has none.
func (s *Service) receive(ctx context.Context, from string, b raftBatch) (struct{}, error) {
	m := s.memberFor(b.Group, b.To, from)
	if m == nil {
		return struct{}{}, nil // not for this incarnation: dropped
	}
	for _, raw := range b.Msgs {
		var msg raftpb.Message
		if err := proto.Unmarshal(raw, &msg); err != nil {
			return struct{}{}, errtext.Errorf("voters: ", "voters: malformed raft message: %w", err)
		}
		if sender := s.knownName(msg.GetFrom()); sender != from {
			// Raft trusts the sender ID a message states: only the
			// node whose incarnation has that ID (by gossip) may use
			// it. An unknown ID is refused too; Raft sends again.
			return struct{}{}, fmt.Errorf("voters: raft message from member %x sent by %s, which is %q's", msg.GetFrom(), from, sender)
		}
		if err := m.g.Step(ctx, &msg); err != nil {
			s.log.Debug("raft message refused", "from", from, "err", err)
		}
	}
	return struct{}{}, nil
}
