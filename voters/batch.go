package voters

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// Renewals are most of a busy group's commands (every held lock and
// every leader renews three times a TTL), and none of them is waited on
// by a user: the lease a renewal extends starts at its send time, so an
// answer a few milliseconds later costs the holder nothing. The leader
// therefore holds renewals briefly and proposes those that arrived
// together as one log entry: one append to each follower instead of one
// per renewal. Batching changes when a renewal is applied, never what it
// does: every command of the entry is applied in order, as if proposed
// one by one, and each caller gets its own results.
//
// Claims, releases and expiries are proposed at once: a user waits on
// them.
const (
	// renewHold is the longest a renewal waits for others.
	renewHold = 10 * time.Millisecond
	// maxRenewBatch bounds the commands in one entry.
	maxRenewBatch = 256
)

// renewHoldFor is how long a batch that begins with cmds waits: at most
// renewHold, and a small part of the shortest lease renewed (so short
// test TTLs keep their margin).
func renewHoldFor(cmds []leases.Cmd) time.Duration {
	hold := renewHold
	for _, c := range cmds {
		hold = min(hold, c.TTL/32)
	}
	return hold
}

// onlyOp reports whether cmds are all of op: renewals may wait (see
// above), releases may be answered once appended (DoAppended).
func onlyOp(cmds []leases.Cmd, op leases.Op) bool {
	return len(cmds) > 0 && !slices.ContainsFunc(cmds, func(c leases.Cmd) bool { return c.Op != op })
}

var errBatchResults = errors.New("voters: a batch's results do not match its commands")

// batcher gathers one leader's renewals into entries. The first caller
// of a batch starts a goroutine that waits the hold and proposes the
// batch for all of its callers.
type batcher struct {
	mu      sync.Mutex
	pending *batch // the batch being gathered, nil if none
}

type batch struct {
	cmds   []leases.Cmd
	calls  []*batchCall
	fire   time.Time     // when the hold ends: the shortest of its callers'
	sooner chan struct{} // signalled when fire moved earlier
	full   chan struct{} // closed when the batch reached maxRenewBatch
	// ctx bounds the proposal: it ends when every caller's ctx has
	// ended (or the service stops), so the proposal outlives none of
	// its callers and is cut short by none while one still waits.
	ctx    context.Context
	cancel context.CancelFunc
	live   int           // callers whose ctx has not ended; under batcher.mu
	stops  []func() bool // the callers' context.AfterFunc registrations
}

type batchCall struct {
	off, n int
	done   chan batchOut // buffered: the proposer never blocks on it
}

type batchOut struct {
	res []leases.Result
	err error
}

// add puts cmds into the pending batch, or starts one (first: the
// caller proposes it). A batch whose callers have all given up takes
// nobody new.
func (b *batcher) add(parent, ctx context.Context, cmds []leases.Cmd) (bt *batch, call *batchCall, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt = b.pending
	now := time.Now()
	fire := now.Add(renewHoldFor(cmds))
	if bt == nil || bt.ctx.Err() != nil {
		bt = &batch{fire: fire, sooner: make(chan struct{}, 1), full: make(chan struct{})}
		bt.ctx, bt.cancel = context.WithCancel(parent)
		b.pending, first = bt, true
	} else if fire.Before(bt.fire) {
		bt.fire = fire
		select {
		case bt.sooner <- struct{}{}:
		default:
		}
	}
	call = &batchCall{off: len(bt.cmds), n: len(cmds), done: make(chan batchOut, 1)}
	bt.cmds = append(bt.cmds, cmds...)
	bt.calls = append(bt.calls, call)
	bt.live++
	bt.stops = append(bt.stops, context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if bt.live--; bt.live == 0 {
			bt.cancel()
		}
	}))
	if len(bt.cmds) >= maxRenewBatch {
		b.pending = nil // later renewals start a new batch
		close(bt.full)
	}
	return bt, call, first
}

// take ends the gathering of bt, if it still gathers.
func (b *batcher) take(bt *batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == bt {
		b.pending = nil
	}
}

// until returns when bt's hold ends.
func (b *batcher) until(bt *batch) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bt.fire
}

// proposeBatched proposes renewals cmds on m, in a batch with others
// that arrive within the hold.
func (s *Service) proposeBatched(ctx context.Context, m *member, cmds []leases.Cmd) ([]leases.Result, error) {
	bt, call, first := m.renewals.add(s.ctx, ctx, cmds)
	// The first caller starts the batch's proposer, which runs apart so
	// that every caller, this one too, returns when its ctx ends.
	if first && !s.spawnLive(func() {
		s.hold(m, bt)
		m.renewals.take(bt)
		res, err := s.propose(bt.ctx, m, bt.cmds)
		bt.finish(res, err)
	}) {
		m.renewals.take(bt)
		bt.finish(nil, raftgroup.ErrClosed) // the service is stopping
	}
	select {
	case out := <-call.done:
		return out.res, out.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hold waits until bt's hold ends, it is full, or all its callers gave
// up.
func (s *Service) hold(m *member, bt *batch) {
	t := time.NewTimer(time.Until(m.renewals.until(bt)))
	defer t.Stop()
	for {
		select {
		case <-bt.sooner:
			t.Reset(time.Until(m.renewals.until(bt)))
		case <-t.C:
			return
		case <-bt.full:
			return
		case <-bt.ctx.Done():
			return
		}
	}
}

// finish hands each caller of bt its results of the proposal (or its
// error), and releases what the batch holds. No caller joins bt any more.
func (bt *batch) finish(res []leases.Result, err error) {
	if err == nil && len(res) != len(bt.cmds) {
		err = errBatchResults
	}
	for _, c := range bt.calls {
		out := batchOut{err: err}
		if err == nil {
			out.res = res[c.off : c.off+c.n : c.off+c.n]
		}
		c.done <- out
	}
	for _, stop := range bt.stops {
		stop()
	}
	bt.cancel()
}
