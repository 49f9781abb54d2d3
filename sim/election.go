package sim

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/sim/check"
)

// ElectionWorkload makes every node of a Cluster campaign in one group,
// over and over, and records every lease. Restarted nodes campaign again.
// Safe for concurrent use.
type ElectionWorkload struct {
	c     *Cluster
	group string
	opts  []election.Option

	closing sync.WaitGroup // Electors of crashed nodes still closing

	mu       sync.Mutex // protects the fields below
	leases   []check.LeaseRecord
	running  map[string]*campaigner // by node name
	closed   bool
	failures []string // errors the workload met (not property violations)
}

type campaigner struct {
	e      *election.Elector
	cancel context.CancelFunc
	done   chan struct{}
}

// StartElection starts a campaign on every alive node of c in group, with
// opts passed to election.New (Group is added).
func StartElection(c *Cluster, group string, opts ...election.Option) (*ElectionWorkload, error) {
	w := &ElectionWorkload{c: c, group: group, opts: append(slices.Clone(opts), election.Group(group)), running: map[string]*campaigner{}}
	if err := startWorkload(c, w.start, w.Close, w.fail, Hooks{OnCrash: w.crashed}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *ElectionWorkload) start(n *cluster.Node) error {
	e, err := election.New(n, w.opts...)
	if err != nil {
		return fmt.Errorf("sim: election on %s: %w", n.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &campaigner{e: e, cancel: cancel, done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		cancel()
		return e.Close()
	}
	w.running[n.Name()] = cp
	w.mu.Unlock()
	go func() {
		defer close(cp.done)
		w.campaign(ctx, n.Name(), e)
	}()
	return nil
}

// campaign elects, holds the lease until it is revoked, and again.
func (w *ElectionWorkload) campaign(ctx context.Context, node string, e *election.Elector) {
	for ctx.Err() == nil {
		el, err := e.Elect(ctx, "cand-"+node)
		if err != nil {
			return // ctx done or Elector closed
		}
		i := w.record(check.LeaseRecord{Group: w.group, Node: node, ID: el.ID(), Term: el.Term(), Start: time.Now()})
		select {
		case <-el.Revoked():
			w.end(i, time.Now())
		case <-ctx.Done():
			w.end(i, time.Now()) // stopped acting as leader now
			return
		}
	}
}

func (w *ElectionWorkload) record(r check.LeaseRecord) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.leases = append(w.leases, r)
	return len(w.leases) - 1
}

func (w *ElectionWorkload) end(i int, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.leases[i].End.IsZero() {
		w.leases[i].End = t
	}
}

func (w *ElectionWorkload) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, err.Error())
}

// crashed stops a crashed node's campaign: its lease ends with its process.
func (w *ElectionWorkload) crashed(name string) {
	w.mu.Lock()
	cp := w.running[name]
	delete(w.running, name)
	w.mu.Unlock()
	if cp == nil {
		return
	}
	// The lease ends with the process: record that now. Closing the
	// Elector tries to reach the (now unreachable) voters and may take
	// half a lease, so it goes on in the background.
	cp.cancel()
	<-cp.done
	w.closing.Go(func() { cp.e.Close() })
}

func (cp *campaigner) stop() {
	cp.cancel()
	<-cp.done
	cp.e.Close()
}

// Elector returns the Elector running on node, or nil.
func (w *ElectionWorkload) Elector(node string) *election.Elector {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cp := w.running[node]; cp != nil {
		return cp.e
	}
	return nil
}

// Leases returns a copy of every lease recorded so far, in start order.
func (w *ElectionWorkload) Leases() []check.LeaseRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.leases)
}

// Current returns the lease held now, if exactly one is open.
func (w *ElectionWorkload) Current() (check.LeaseRecord, bool) {
	var open []check.LeaseRecord
	for _, l := range w.Leases() {
		if l.End.IsZero() {
			open = append(open, l)
		}
	}
	if len(open) != 1 {
		return check.LeaseRecord{}, false
	}
	return open[0], true
}

// Failures returns errors the workload met while running.
func (w *ElectionWorkload) Failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.failures)
}

// Close stops every campaign (open leases end now) and closes the Electors.
func (w *ElectionWorkload) Close() {
	w.mu.Lock()
	w.closed = true
	running := w.running
	w.running = map[string]*campaigner{}
	w.mu.Unlock()
	for _, cp := range running {
		cp.stop()
	}
	w.closing.Wait()
}
