package raftgroup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Group is one member of a Raft group: a RawNode with in-memory storage,
// driven by one goroutine (the loop) that ticks it, steps inbound
// messages into it, sends its messages, applies committed entries to the
// StateMachine and snapshots it. A Group is safe for concurrent use.
type Group struct {
	cfg     Config // with defaults; read-only after Start
	sm      StateMachine
	log     *slog.Logger
	storage *raft.MemoryStorage
	disk    *disk // Config.Dir; nil without

	inbox   chan *raftpb.Message // inbound messages, for the loop
	ops     chan func()          // calls to run on the loop
	done    chan struct{}        // closed by Close
	stopped chan struct{}        // closed when the loop has returned
	once    sync.Once            // guards close(done)
	err     error                // why the loop stopped; written before stopped closes

	mu struct {
		sync.Mutex
		pending map[uint64]*waiter            // proposals not yet applied, by seq
		subs    map[*subscription]func() bool // Follow channels and their ctx stop
		leader  Leader                        // last published
		stopped bool                          // the loop has stopped: no new subs
	}

	loopState // owned by the loop goroutine
}

// waiter is a call waiting for its proposal's outcome.
type waiter struct {
	seq       uint64       // under Group.mu; 0 until proposed
	cancelled bool         // under Group.mu: the caller gave up
	ch        chan outcome // capacity 1; receives one outcome
}

type outcome struct {
	index  uint64
	result any
	err    error
}

func newWaiter() *waiter { return &waiter{ch: make(chan outcome, 1)} }

// Start validates cfg, creates the member and starts its loop. With
// cfg.Voters set it bootstraps a new group; without, it waits to be added
// to an existing one.
func Start(cfg Config) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	storage := raft.NewMemoryStorage()
	d, r, err := loadDir(c, storage)
	if err != nil {
		return nil, err
	}
	rcfg := c.raftConfig(storage)
	rcfg.Applied = r.snap.GetMetadata().GetIndex()
	rn, err := raft.NewRawNode(rcfg)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("raftgroup: %w", err)
	}
	if len(c.Voters) > 0 {
		peers := make([]raft.Peer, len(c.Voters))
		for i, id := range c.Voters {
			peers[i] = raft.Peer{ID: id}
		}
		if err := rn.Bootstrap(peers); err != nil {
			d.close()
			return nil, fmt.Errorf("raftgroup: bootstrap: %w", err)
		}
	}
	g := &Group{
		cfg:     c,
		sm:      c.StateMachine,
		log:     c.Logger.With("member", c.ID),
		storage: storage,
		disk:    d,
		inbox:   make(chan *raftpb.Message, 1024),
		ops:     make(chan func(), 256),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	g.mu.pending = map[uint64]*waiter{}
	g.mu.subs = map[*subscription]func() bool{}
	g.loopState = newLoopState(rn)
	g.nextSnap = c.SnapshotEntries
	g.seq = r.seq
	if r.snap != nil {
		if err := g.loadSnapshot(r.snap); err != nil {
			d.close()
			return nil, err
		}
	}
	go g.run()
	return g, nil
}

// loadDir opens c.Dir, if set, and loads what it holds into storage.
// Without a Dir it returns a nil disk and an empty restored.
func loadDir(c Config, storage *raft.MemoryStorage) (*disk, *restored, error) {
	if c.Dir == "" {
		return nil, &restored{}, nil
	}
	d, r, err := openDisk(c.Dir)
	if err != nil {
		return nil, nil, err
	}
	if r.empty() {
		return d, r, nil
	}
	if len(c.Voters) > 0 {
		d.close()
		return nil, nil, fmt.Errorf("%w: Dir %s holds a member's state: start it without Voters to go on, or give an empty Dir", ErrInvalidConfig, c.Dir)
	}
	if r.snap != nil {
		if err := storage.ApplySnapshot(r.snap); err != nil {
			d.close()
			return nil, nil, fmt.Errorf("%w: snapshot: %v", ErrCorrupt, err)
		}
	}
	if err := storage.Append(r.ents); err != nil {
		d.close()
		return nil, nil, fmt.Errorf("%w: entries: %v", ErrCorrupt, err)
	}
	if r.hs != nil {
		hs := proto.Clone(r.hs).(*raftpb.HardState)
		// What the snapshot holds was committed; the wal may hold an
		// older commit index if a crash came between the two files.
		last, _ := storage.LastIndex()
		hs.Commit = proto.Uint64(min(max(hs.GetCommit(), r.snap.GetMetadata().GetIndex()), last))
		if err := storage.SetHardState(hs); err != nil {
			d.close()
			return nil, nil, fmt.Errorf("%w: hard state: %v", ErrCorrupt, err)
		}
	}
	return d, r, nil
}

// ID returns this member's ID.
func (g *Group) ID() uint64 { return g.cfg.ID }

// Close stops the loop and waits for it. Calls waiting on the group
// return ErrClosed. The first Close returns nil (or why the loop had
// already stopped, see Err), later ones ErrClosed.
func (g *Group) Close() error {
	err := ErrClosed
	g.once.Do(func() {
		close(g.done)
		err = nil
	})
	<-g.stopped
	if err == nil {
		err = g.err
	}
	return err
}

// Done is closed when the loop has stopped: after Close, or when the
// state machine failed to restore a snapshot (see Err).
func (g *Group) Done() <-chan struct{} { return g.stopped }

// Err returns why the loop stopped on its own, or nil (running, or
// stopped by Close). Meaningful after Done is closed.
func (g *Group) Err() error {
	select {
	case <-g.stopped:
		return g.err
	default:
		return nil
	}
}

// Step hands an inbound message from the transport to the member. It
// returns once the loop has queued it, when ctx ends (the message is then
// dropped, which Raft tolerates), or with ErrClosed. The group takes
// ownership of m.
func (g *Group) Step(ctx context.Context, m *raftpb.Message) error {
	if err := g.checkInbound(m); err != nil {
		return err
	}
	return enqueue(ctx, g, g.inbox, m)
}

func (g *Group) checkInbound(m *raftpb.Message) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: nil", ErrBadMessage)
	case m.GetTo() != g.cfg.ID:
		return fmt.Errorf("%w: addressed to %d, not %d", ErrBadMessage, m.GetTo(), g.cfg.ID)
	case m.GetFrom() == 0 || m.GetFrom() == g.cfg.ID || raft.IsLocalMsgTarget(m.GetFrom()):
		return fmt.Errorf("%w: from %d", ErrBadMessage, m.GetFrom())
	case raft.IsLocalMsg(m.GetType()):
		return fmt.Errorf("%w: local type %v", ErrBadMessage, m.GetType())
	case m.GetType() == raftpb.MsgSnap && m.GetSnapshot().GetMetadata() == nil:
		return fmt.Errorf("%w: snapshot without metadata", ErrBadMessage)
	case m.GetType() == raftpb.MsgProp:
		if len(m.GetEntries()) == 0 {
			return fmt.Errorf("%w: empty proposal", ErrBadMessage)
		}
		for _, e := range m.GetEntries() {
			if e.GetType() != raftpb.EntryNormal {
				return fmt.Errorf("%w: proposal of a %v entry", ErrBadMessage, e.GetType())
			}
		}
	}
	return nil
}

// Propose replicates data and returns once this member has applied it:
// index is its log index, result what StateMachine.Apply returned here.
// Any member may propose: a follower forwards the proposal to the leader.
//
// Errors: ErrDropped (or ErrNoLeader) means the entry was not applied and
// never will be, so proposing again is safe; a member that loses track of
// a proposal in a leader change learns this within about two election
// timeouts. ctx's error, when ctx ends first, means the outcome is
// unknown: the entry may still be applied. ErrUnknownOutcome is the same,
// learned from an installed snapshot. ErrClosed: the group stopped.
func (g *Group) Propose(ctx context.Context, data []byte) (index uint64, result any, err error) {
	w := newWaiter()
	if err := g.submit(ctx, func() { g.propose(w, data) }); err != nil {
		return 0, nil, err
	}
	o := g.wait(ctx, w)
	return o.index, o.result, o.err
}

// ProposeAppended proposes data as Propose does, on the leader only, and
// returns once this member has appended it to its log: before a majority
// holds it, so before it is committed or applied, and without its
// result. Every later proposal of this member while it leads comes after
// it in the log. A leader that loses its lead before the entry is
// committed may lose it; nothing tells the caller then. Elsewhere it
// returns a *NotLeaderError at once; ErrDropped means it was not
// appended. It suits commands whose loss costs only time, such as the
// release of a lease that expires anyway.
func (g *Group) ProposeAppended(ctx context.Context, data []byte) error {
	w := newWaiter()
	appended := make(chan error, 1)
	if err := g.submit(ctx, func() { appended <- g.proposeAppended(w, data) }); err != nil {
		return err
	}
	select {
	case err := <-appended:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return ErrClosed
	}
}

// ProposeConfChange changes the configuration and returns once this
// member has applied the change; for a change that enters a joint
// configuration with automatic leave (the default for more than one
// change), once the joint configuration has been left. It is served by
// the leader only (a *NotLeaderError elsewhere); raft takes one change at
// a time, so a change proposed while another is pending returns
// ErrDropped at once. ctx's error means the change may still be applied.
// The group uses cc's Context; cc is not modified.
//
// To add a member: AddLearnerNode, wait for Status.CaughtUp on the
// leader, then AddNode. raftpb.ConfChangesFromString("l4") builds the
// changes. Never add back an ID that was removed.
func (g *Group) ProposeConfChange(ctx context.Context, cc *raftpb.ConfChangeV2) error {
	if cc == nil {
		return fmt.Errorf("%w: nil", ErrBadConfChange)
	}
	cc = proto.Clone(cc).(*raftpb.ConfChangeV2)
	w := newWaiter()
	if err := g.submit(ctx, func() { g.proposeConf(w, cc) }); err != nil {
		return err
	}
	return g.wait(ctx, w).err
}

// TransferLeadership asks the leader (this member) to hand leadership to
// the voter to, and returns once to leads (nil), when the transfer
// failed (ErrTransferFailed, after about an election timeout), or when
// ctx ends. Proposals made during a transfer are dropped.
func (g *Group) TransferLeadership(ctx context.Context, to uint64) error {
	t := &transfer{to: to, ch: make(chan error, 1)}
	if err := g.submit(ctx, func() { g.startTransfer(t) }); err != nil {
		return err
	}
	select {
	case err := <-t.ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stopped:
		return ErrClosed
	}
}

// Status returns this member's view of the group. It waits for the loop
// (one iteration at most) and returns ErrClosed once the loop stopped.
func (g *Group) Status() (Status, error) {
	ch := make(chan Status, 1)
	if err := g.submit(context.Background(), func() { ch <- g.status() }); err != nil {
		return Status{}, err
	}
	select {
	case s := <-ch:
		return s, nil
	case <-g.stopped:
		return Status{}, ErrClosed
	}
}

// submit queues f to run on the loop.
func (g *Group) submit(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return enqueue(ctx, g, g.ops, f)
}

// enqueue hands v to the loop on ch, unless ctx ends or the group closes.
func enqueue[T any](ctx context.Context, g *Group, ch chan<- T, v T) error {
	if g.closing() {
		return ErrClosed
	}
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.done:
		return ErrClosed
	case <-g.stopped:
		return ErrClosed
	}
}

// closing reports whether Close was called or the loop stopped.
func (g *Group) closing() bool {
	select {
	case <-g.done:
		return true
	case <-g.stopped:
		return true
	default:
		return false
	}
}

// wait returns w's outcome, or ctx's error, or ErrClosed.
func (g *Group) wait(ctx context.Context, w *waiter) outcome {
	select {
	case o := <-w.ch:
		return o
	case <-ctx.Done():
	case <-g.stopped:
	}
	g.mu.Lock()
	w.cancelled = true
	if w.seq != 0 && g.mu.pending[w.seq] == w {
		delete(g.mu.pending, w.seq)
	}
	g.mu.Unlock()
	select {
	case o := <-w.ch: // it was resolved meanwhile
		return o
	default:
	}
	if err := ctx.Err(); err != nil {
		return outcome{err: err}
	}
	return outcome{err: ErrClosed}
}
