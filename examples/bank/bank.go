package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/chaos"
)

// ledger is the resource the transfers write: a database of balances
// that admits a transaction only with a token no lower than any it has
// seen (lockmgr.Fence), checked when the transaction reads and again
// when it commits. The check at the read is what makes a
// read-modify-write safe: a holder whose lease ran out while it was
// paused, and whose successor has read since, cannot commit what it
// computed from the old balances.
type ledger struct {
	fence    lockmgr.Fence
	unfenced bool // admit every token (to show what the fence prevents)

	mu       sync.Mutex
	balances []int64
}

// read returns a copy of the balances for a transaction under token.
func (l *ledger) read(token uint64) ([]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(token); err != nil {
		return nil, err
	}
	return slices.Clone(l.balances), nil
}

// commit writes the new balances of accounts from and to, as one
// transaction under token.
func (l *ledger) commit(token uint64, from, to int, fromBalance, toBalance int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(token); err != nil {
		return err
	}
	l.balances[from], l.balances[to] = fromBalance, toBalance
	return nil
}

func (l *ledger) check(token uint64) error {
	if l.unfenced {
		return nil
	}
	return l.fence.Check("ledger", token)
}

// total returns the sum of the balances.
func (l *ledger) total() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum int64
	for _, b := range l.balances {
		sum += b
	}
	return sum
}

// transfers is a chaos.Workload: on every node a client moves money
// between the ledger's accounts, each transfer under the lock "ledger"
// and fenced by its token. Its property B1 is that the total balance is
// what it was at the start.
type transfers struct {
	accounts int
	initial  int64         // each account's balance at the start
	think    time.Duration // between a transfer's read and its commit
	unsafe   bool          // locks without quorum and no fence: B1 should break

	ledger *ledger

	mu      sync.Mutex
	spans   []chaos.Span       // each client's life, and the fence's refusals, for the timeline
	stopped bool               // Stop was called: no new clients
	clients map[string]*client // by node name
	done    int                // transfers committed
	refused int                // commits the fence refused
}

// client runs transfers on one node until stopped.
type client struct {
	span   int // its index in spans
	locks  *lockmgr.Manager
	cancel context.CancelFunc
	ended  chan struct{}
}

func newTransfers(unsafe bool) *transfers {
	w := &transfers{accounts: 8, initial: 1000, think: 2 * time.Millisecond, unsafe: unsafe}
	w.ledger = &ledger{balances: make([]int64, w.accounts), unfenced: unsafe}
	for i := range w.ledger.balances {
		w.ledger.balances[i] = w.initial
	}
	return w
}

// Start starts a client on every node and follows crashes and
// restarts: a crashed node's client stops, a restarted node gets a new
// one.
func (w *transfers) Start(ctx context.Context, c *sim.Cluster) error {
	w.clients = map[string]*client{}
	c.AddHooks(sim.Hooks{
		OnCrash: func(name string) { w.stopClient(name) },
		OnStart: func(n *cluster.Node) {
			if err := w.startClient(n); err != nil {
				n.Logger().Warn("transfers: no client on a restarted node", "err", err)
			}
		},
	})
	for _, n := range c.Nodes() {
		if err := w.startClient(n); err != nil {
			w.Stop()
			return err
		}
	}
	return nil
}

func (w *transfers) startClient(n *cluster.Node) error {
	var opts []lockmgr.Option
	if w.unsafe {
		opts = append(opts, lockmgr.Quorum(false))
	}
	locks, err := lockmgr.New(n, opts...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl := &client{locks: locks, cancel: cancel, ended: make(chan struct{})}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		cancel()
		return locks.Close()
	}
	old := w.clients[n.Name()]
	w.clients[n.Name()] = cl
	cl.span = len(w.spans)
	w.spans = append(w.spans, chaos.Span{Row: "client on " + n.Name(), Node: n.Name(), Label: "transfers", Start: time.Now()})
	w.mu.Unlock()
	if old != nil {
		old.stop()
	}
	go func() {
		defer close(cl.ended)
		for ctx.Err() == nil {
			w.transfer(ctx, locks)
		}
	}()
	return nil
}

func (w *transfers) stopClient(name string) {
	w.mu.Lock()
	cl := w.clients[name]
	delete(w.clients, name)
	if cl != nil {
		w.spans[cl.span].End = time.Now()
	}
	w.mu.Unlock()
	if cl != nil {
		cl.stop()
	}
}

func (cl *client) stop() {
	cl.cancel()
	<-cl.ended
	cl.locks.Close()
}

// transfer moves a random amount between two random accounts under the
// lock, or waits a little if it cannot take the lock.
func (w *transfers) transfer(ctx context.Context, locks *lockmgr.Manager) {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	l, err := locks.Acquire(actx, "ledger", lockmgr.TTL(time.Second))
	cancel()
	if err != nil {
		pause(ctx, 50*time.Millisecond)
		return
	}
	defer l.Release(context.Background())
	balances, err := w.ledger.read(l.Token())
	if err != nil {
		w.count(err, l.Token())
		return
	}
	from, to := rand.N(w.accounts), rand.N(w.accounts-1)
	if to >= from {
		to++
	}
	amount := rand.N(balances[from] + 1)
	pause(l.Context(), w.think) // the work a transfer does between its read and its commit
	w.count(w.ledger.commit(l.Token(), from, to, balances[from]-amount, balances[to]+amount), l.Token())
}

// count records a transaction's outcome; a refusal by the fence is drawn
// in the timeline.
func (w *transfers) count(err error, token uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		w.done++
	case errors.Is(err, lockmgr.ErrStaleToken):
		w.refused++
		now := time.Now()
		w.spans = append(w.spans, chaos.Span{Row: "refused by the fence", Label: fmt.Sprint(token), Start: now, End: now.Add(50 * time.Millisecond), Tip: err.Error()})
	}
}

// Timeline draws each node's client from its start to its node's crash
// (or the end), and the fence's refusals.
func (w *transfers) Timeline() []chaos.Span {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.spans)
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Stop stops every client and waits for them.
func (w *transfers) Stop() {
	w.mu.Lock()
	w.stopped = true
	names := make([]string, 0, len(w.clients))
	for name := range w.clients {
		names = append(names, name)
	}
	w.mu.Unlock()
	for _, name := range names {
		w.stopClient(name)
	}
}

// Check judges B1: the total balance is unchanged.
func (w *transfers) Check() []chaos.Property {
	w.mu.Lock()
	done, refused := w.done, w.refused
	w.mu.Unlock()
	want, got := int64(w.accounts)*w.initial, w.ledger.total()
	var found []string
	if got != want {
		found = append(found, fmt.Sprintf("total balance %d after %d transfers; it was %d", got, done, want))
	}
	figures := fmt.Sprintf("%d transfers committed, %d refused by the fence, total %d", done, refused, got)
	return []chaos.Property{chaos.Judge("B1", "total balance unchanged", done > 0, found, figures)}
}
