package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// Renewals. Every lock renews every third of its TTL, and each lock's
// rounds are put on a grid of that period (renewAt), so the locks of one
// TTL on a node renew at the same instants; the node's renewals that
// meet within renewGather go to the voters as one request, and each
// lock gets its own result. Holding many locks then costs a request per
// node and renewal period, as etcd's one lease per session does, not one
// per lock. The voters apply the commands of one request in order, as
// if sent one by one, so coalescing changes nothing but the cost.
//
// The grid is the same on every node (by its clock), on purpose: the
// voters' leader batches the renewals that reach it within 10 ms into
// one log entry (voters/batch.go), so a cluster's renewals of one
// period cost one or a few entries, not one per node. Spreading the
// nodes over the period (a phase per node) was measured on 27 nodes
// holding 200 locks (BenchmarkScale held200): 20-40 % more CPU, the
// leader then proposing the nodes' requests about one by one. The price
// is a burst of one request per node at the leader each period.
//
// Safety: a round's lease is counted from its start, taken before the
// wait, so a renewal that waits renewGather ends its lease that much
// earlier, never later; and the grid only ever makes a round earlier
// than a third of the TTL after the last (renewAt).

const (
	// renewGather is how long the first renewal of a request waits for
	// the others of its instant (at most a 16th of its period).
	renewGather = 2 * time.Millisecond
	// maxRenewBatch bounds the commands of one request.
	maxRenewBatch = 128
)

// renewAt returns when the round after one that started at start is
// due: the first multiple of interval (in Unix time) after start, so at
// most interval after it, and the same instant for every lock of that
// interval whose rounds have come to rest on the grid.
func renewAt(start time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		return start
	}
	return start.Add(interval - time.Duration(start.UnixNano()%int64(interval)))
}

type renewDest struct {
	quorum bool
	coord  string // Quorum(false): the table's node; "" in quorum mode
}

type renewBatch struct {
	cmds     []leases.Cmd
	deadline time.Time // the latest of its callers' (each waits by its own ctx)
	done     chan struct{}
	res      []leases.Result // set before done closes
	err      error
}

// renewals coalesces a server's renewals.
type renewals struct {
	s      *server
	mu     sync.Mutex
	open   map[renewDest]*renewBatch // gathering
	closed bool
	onSend func(n int) // tests: a request of n renewals is sent
}

var errServerClosed = errors.New("lockmgr: the node's lock service closed")

// renew sends cmd (a renewal) with the others of its instant and returns
// its result, or an error (ctx's, or the request's).
func (r *renewals) renew(ctx context.Context, quorum bool, coord string, cmd leases.Cmd, gather time.Duration) (leases.Result, error) {
	d := renewDest{quorum: quorum}
	if !quorum {
		d.coord = coord
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return leases.Result{}, errServerClosed
	}
	b := r.open[d]
	if b == nil {
		b = &renewBatch{done: make(chan struct{})}
		if r.open == nil {
			r.open = map[renewDest]*renewBatch{}
		}
		r.open[d] = b
		r.s.wg.Add(1)
		go r.send(d, b, gather)
	}
	i := len(b.cmds)
	b.cmds = append(b.cmds, cmd)
	// The request lives as long as its most patient caller: a lock of a
	// short TTL must not cut short the rounds of the long ones it meets.
	if dl, ok := ctx.Deadline(); ok && dl.After(b.deadline) {
		b.deadline = dl
	}
	if len(b.cmds) >= maxRenewBatch {
		delete(r.open, d) // full: the next renewal starts another
	}
	r.mu.Unlock()
	select {
	case <-b.done:
		if b.err != nil {
			return leases.Result{}, b.err
		}
		return b.res[i], nil
	case <-ctx.Done():
		return leases.Result{}, ctx.Err()
	}
}

// send waits gather for more renewals, then sends the batch.
func (r *renewals) send(d renewDest, b *renewBatch, gather time.Duration) {
	defer r.s.wg.Done()
	defer close(b.done)
	t := r.s.node.Clock().NewTimer(gather)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.s.ctx.Done():
	}
	r.mu.Lock()
	if r.open[d] == b {
		delete(r.open, d)
	}
	cmds, deadline, onSend := b.cmds, b.deadline, r.onSend
	r.mu.Unlock()
	if onSend != nil {
		onSend(len(cmds))
	}
	ctx, cancel := r.s.ctx, context.CancelFunc(func() {})
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	res, err := r.s.do(ctx, d.quorum, d.coord, cmds)
	if err == nil && len(res) != len(cmds) {
		err = fmt.Errorf("lockmgr: %d results for %d renewals", len(res), len(cmds))
	}
	b.res, b.err = res, err
}

// close refuses renewals from now on; the server then waits for the
// requests under way.
func (r *renewals) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}
