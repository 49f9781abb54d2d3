package sim

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim/check"
)

// ClockWorkload runs a clock.Clock on every node of a Cluster, each on
// that node's simulated physical clock, and restarts it with the node.
// Safe for concurrent use.
type ClockWorkload struct {
	c       *Cluster
	opts    []clock.Option
	closing sync.WaitGroup // Clocks of crashed nodes still closing

	mu     sync.Mutex // protects the fields below
	clocks map[string]*clock.Clock
	closed bool
	check  *check.ClockCheck
}

// StartClocks starts a Clock on every alive node of c.
func StartClocks(c *Cluster, opts ...clock.Option) (*ClockWorkload, error) {
	w := &ClockWorkload{c: c, opts: opts, clocks: map[string]*clock.Clock{}, check: check.NewClockCheck()}
	// A restarted node whose Clock cannot start reads as unsynced, which
	// the checker counts; there is no other record to keep.
	ignore := func(error) {}
	if err := startWorkload(c, w.start, w.Close, ignore, Hooks{OnCrash: func(name string) { w.stop(name) }}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *ClockWorkload) start(n *cluster.Node) error {
	opts := append([]clock.Option{clock.Source(w.c.Clock(n.Name()))}, w.opts...)
	clk, err := clock.New(n, opts...)
	if err != nil {
		return fmt.Errorf("sim: clock on %s: %w", n.Name(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return clk.Close()
	}
	w.clocks[n.Name()] = clk
	return nil
}

// stop ends a crashed node's Clock. Closing it tries to reach the (now
// unreachable) voters, so it goes on in the background.
func (w *ClockWorkload) stop(name string) {
	w.mu.Lock()
	clk := w.clocks[name]
	delete(w.clocks, name)
	w.check.Restarted(name)
	w.mu.Unlock()
	if clk != nil {
		w.closing.Go(func() { clk.Close() })
	}
}

// Clock returns the Clock running on node, or nil.
func (w *ClockWorkload) Clock(node string) *clock.Clock {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clocks[node]
}

// Observe reads every clock at (as nearly as possible) one instant, feeds
// the checker, and returns the readings.
func (w *ClockWorkload) Observe() []check.Reading {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.clocks))
	for name := range w.clocks {
		names = append(names, name)
	}
	slices.SortFunc(names, compareNames)
	rs := make([]check.Reading, 0, len(names))
	for _, name := range names {
		rs = append(rs, Read(name, w.clocks[name]))
	}
	w.check.Add(rs)
	return rs
}

// Read reads one clock now.
func Read(node string, clk *clock.Clock) check.Reading {
	r := check.Reading{Node: node, At: time.Now()}
	iv, err := clk.Interval()
	r.Done = time.Now()
	st := clk.Stats()
	r.Interval, r.Err = check.Interval{Earliest: iv.Earliest, Latest: iv.Latest}, err
	r.Stats = check.ClockStats{Reference: st.Reference, Term: st.Term, IsReference: st.IsReference}
	if r.Err == nil {
		r.Now, r.Err = clk.Now()
		r.NowAt = time.Now()
	}
	return r
}

// AllowDrift tells the checker the clocks' MaxDrift (check.ClockCheck.Drift).
func (w *ClockWorkload) AllowDrift(d float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.check.Drift = d
}

// AllowRate tells the checker how far any physical clock's rate may be
// from real time's (check.ClockCheck.Rate): 0.04 for clocks within ±4 %.
func (w *ClockWorkload) AllowRate(r float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.check.Rate = r
}

// Check returns what the checker has judged so far.
func (w *ClockWorkload) Check() check.ClockCheck {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.check.Clone()
}

// Close stops every Clock.
func (w *ClockWorkload) Close() {
	w.mu.Lock()
	w.closed = true
	clocks := w.clocks
	w.clocks = map[string]*clock.Clock{}
	w.mu.Unlock()
	for _, clk := range clocks {
		clk.Close()
	}
	w.closing.Wait()
}
