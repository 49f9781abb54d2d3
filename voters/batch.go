package voters

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
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

// renewalsOnly reports whether cmds are all renewals: those may wait.
func renewalsOnly(cmds []leases.Cmd) bool {
	return len(cmds) > 0 && !slices.ContainsFunc(cmds, func(c leases.Cmd) bool { return c.Op != leases.OpRenew })
}

var errBatchResults = errors.New("voters: a batch's results do not match its commands")

// batcher gathers one leader's renewals into entries. The first caller
// of a batch waits the hold and proposes the batch for all of its
// callers; no goroutine of its own runs.
type batcher struct {
	mu      sync.Mutex
	pending *batch // the batch being gathered, nil if none
}

type batch struct {
	cmds     []leases.Cmd
	calls    []*batchCall
	full     chan struct{} // closed when the batch reached maxRenewBatch
	deadline time.Time     // the latest deadline of its callers
	endless  bool          // a caller has no deadline
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
// caller proposes it).
func (b *batcher) add(ctx context.Context, cmds []leases.Cmd) (bt *batch, call *batchCall, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt = b.pending
	if bt == nil {
		bt = &batch{full: make(chan struct{})}
		b.pending, first = bt, true
	}
	call = &batchCall{off: len(bt.cmds), n: len(cmds), done: make(chan batchOut, 1)}
	bt.cmds = append(bt.cmds, cmds...)
	bt.calls = append(bt.calls, call)
	if d, ok := ctx.Deadline(); !ok {
		bt.endless = true
	} else if d.After(bt.deadline) {
		bt.deadline = d
	}
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

// proposeBatched proposes renewals cmds on m, in a batch with others
// that arrive within the hold.
func (s *Service) proposeBatched(ctx context.Context, m *member, cmds []leases.Cmd) ([]leases.Result, error) {
	bt, call, first := m.renewals.add(ctx, cmds)
	if first {
		t := time.NewTimer(renewHoldFor(cmds))
		select {
		case <-t.C:
		case <-bt.full:
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		t.Stop()
		m.renewals.take(bt)
		s.proposeBatch(m, bt)
	}
	select {
	case out := <-call.done:
		return out.res, out.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// proposeBatch proposes bt's commands as one entry and hands each
// caller its results. It waits until the latest of its callers' deadlines
// at most, so an early caller that gave up does not cut the others short.
func (s *Service) proposeBatch(m *member, bt *batch) {
	ctx, cancel := s.ctx, context.CancelFunc(func() {})
	if !bt.endless {
		ctx, cancel = context.WithDeadline(s.ctx, bt.deadline)
	}
	defer cancel()
	res, err := s.propose(ctx, m, bt.cmds)
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
}
