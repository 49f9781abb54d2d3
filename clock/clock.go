package clock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/hlc"
	"github.com/gossipsync/gossipsync/internal/timesync"
)

// RPC methods: the reference's side of the Cristian exchange, and any
// node's current cluster time for a new reference that has none.
const (
	methodSample = "clock.sample"
	methodPeek   = "clock.peek"
)

// hlcMaxForward bounds how far ahead of this node's time a peer's hybrid
// logical clock may be before its stamp is ignored, so one broken clock
// cannot drag every node's timestamps into the future.
const hlcMaxForward = time.Minute

// Clock serves cluster time on one node: the time of the reference, the
// leader of the ReferenceGroup election, measured by Cristian exchanges
// and served with an honest error bound. Safe for concurrent use. Make at
// most one per node: it installs the node's RPC Stamper.
type Clock struct {
	node *cluster.Node
	opt  options
	el   *election.Elector
	hlc  *hlc.Clock

	release func() // frees the node's Clock slot

	synced     chan struct{} // closed at the first bound
	syncedOnce sync.Once

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		filter   *timesync.Filter
		ref      election.Leader // the reference this node follows
		refEpoch uint64          // term of the reference the filter's samples came from
		// While this node is the reference: cluster time = source() +
		// refOffset, and refInherited is how far that may lie from the
		// previous reference's time.
		isRef        bool
		refLease     *election.Elected // while isRef: the lease it rests on
		refTerm      uint64
		refOffset    time.Duration
		refInherited time.Duration
		last         time.Time // the last Now returned
		// The last physical reading and the real (monotonic) time of it,
		// to catch steps of the physical clock.
		anchorSrc, anchorMono time.Time
		steps                 int // physical clock steps seen
		samples               int
		rejected              int
		failed                int // exchanges without an answer
		closed                bool
	}
}

// New starts a Clock on n: it campaigns to be the reference, follows the
// reference, and samples it every SyncInterval. Readings fail with
// ErrUnsynced until the first good sample.
func New(n *cluster.Node, opts ...Option) (*Clock, error) {
	if n == nil {
		return nil, errors.New("clock: New: nil node")
	}
	o := defaults(n.Profile())
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	// One Clock per node: a second would take over the first's methods
	// and the node's Stamper.
	release, ok := n.Exclusive(clockKey{})
	if !ok {
		return nil, ErrClockExists
	}
	// NoPreempt: a reference is kept while it lives; each change of
	// reference widens every bound and leaves a gap without one.
	el, err := election.New(n, election.Group(ReferenceGroup), election.NoPreempt())
	if err != nil {
		release()
		return nil, errtext.Errorf("clock: ", "clock: %w", err)
	}
	c := &Clock{node: n, opt: o, el: el, synced: make(chan struct{}), release: release}
	c.mu.filter = timesync.NewFilter(o.window, o.maxDrift)
	c.hlc = hlc.NewClock(c.physicalNanos, hlcMaxForward)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cluster.HandleFunc(n, methodSample, c.serveSample)
	cluster.HandleFunc(n, methodPeek, c.servePeek)
	n.SetStamper(stamper{c})
	c.wg.Add(3)
	go func() { defer c.wg.Done(); c.campaign() }()
	go func() { defer c.wg.Done(); c.follow() }()
	go func() { defer c.wg.Done(); c.syncLoop() }()
	return c, nil
}

// Now returns the cluster time: the middle of Interval, held back so that
// it never goes backwards on this node (after a correction it stands
// still until true time catches up, rather than stepping back; so just
// after a correction it may lie outside Interval by up to the earlier
// uncertainty). It fails with ErrUnsynced when Interval would. Like
// Interval, it reads local state only and never waits for the network.
func (c *Clock) Now() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return time.Time{}, ErrClosed
	}
	iv, err := c.intervalLocked(c.localLocked())
	if err != nil {
		return time.Time{}, err
	}
	t := iv.Earliest.Add(iv.Latest.Sub(iv.Earliest) / 2)
	if t.Before(c.mu.last) {
		t = c.mu.last
	}
	c.mu.last = t
	return t, nil
}

// Interval returns a range that contains the reference's time now. Its
// half-width, the uncertainty, is half the round trip of the samples it
// rests on plus MaxDrift times their age. See the package doc for the
// window after a change of reference. It never waits for the network:
// while the reference is unreachable the interval widens with the drift
// allowance, and past MaxUncertainty it fails with ErrUnsynced.
func (c *Clock) Interval() (Interval, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return Interval{}, ErrClosed
	}
	return c.intervalLocked(c.localLocked())
}

func (c *Clock) intervalLocked(local time.Time) (Interval, error) {
	if c.mu.isRef {
		t := local.Add(c.mu.refOffset)
		return Interval{Earliest: t, Latest: t}, nil
	}
	b, ok := c.mu.filter.Bound(local)
	if !ok {
		return Interval{}, fmt.Errorf("%w: no sample of the reference yet", ErrUnsynced)
	}
	if b.Uncertainty > c.opt.maxU {
		return Interval{}, fmt.Errorf("%w: uncertainty %v exceeds %v", ErrUnsynced, b.Uncertainty, c.opt.maxU)
	}
	mid := local.Add(b.Offset)
	return Interval{Earliest: mid.Add(-b.Uncertainty), Latest: mid.Add(b.Uncertainty)}, nil
}

// Timestamp returns a hybrid logical clock timestamp: unique on this
// node, greater than every timestamp this node returned or received
// before (timestamps ride on every RPC), and close to cluster time.
func (c *Clock) Timestamp() Timestamp { return c.hlc.Now() }

// Stats describes the synchronization now.
func (c *Clock) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{Reference: c.mu.ref.Node, Term: c.mu.refEpoch, IsReference: c.mu.isRef, Samples: c.mu.samples, Rejected: c.mu.rejected, Failed: c.mu.failed}
	if c.mu.isRef {
		s.Reference, s.Term, s.Offset, s.Synced = c.node.Name(), c.mu.refTerm, c.mu.refOffset, true
		return s
	}
	if b, ok := c.mu.filter.Bound(c.localLocked()); ok {
		s.Offset, s.Uncertainty, s.RTT = b.Offset, b.Uncertainty, c.mu.filter.BestRTT()
		s.Synced = b.Uncertainty <= c.opt.maxU
	}
	return s
}

// stepSlack is the smallest jump of the physical clock taken as a step
// rather than noise.
const stepSlack = time.Millisecond

// localLocked reads the physical clock. When the reading has moved away
// from the real time elapsed since the last one by more than the drift
// bound allows, the clock was stepped (by an operator, NTP or the
// simulation): the reference shifts its offset so the time it serves
// does not jump, and a follower shifts its samples so they keep matching.
func (c *Clock) localLocked() time.Time {
	src, mono := c.opt.source(), time.Now()
	if !c.mu.anchorMono.IsZero() {
		elapsed := mono.Sub(c.mu.anchorMono)
		step := src.Sub(c.mu.anchorSrc.Add(elapsed))
		if step.Abs() > time.Duration(float64(elapsed.Abs())*c.opt.maxDrift)+stepSlack {
			c.mu.steps++
			c.mu.refOffset -= step
			c.mu.filter.Shift(step)
		}
	}
	c.mu.anchorSrc, c.mu.anchorMono = src, mono
	return src
}

// readLocal reads the physical clock for a sample and returns the step
// count, so a sample spanning a step can be thrown away.
func (c *Clock) readLocal() (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localLocked(), c.mu.steps
}

// physicalNanos is the hybrid logical clock's physical time: cluster time
// when it is known, else 0, so that an unsynced node's timestamps only
// count logically and never drag other nodes' timestamps towards its own
// (possibly far off) physical clock.
func (c *Clock) physicalNanos() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if iv, err := c.intervalLocked(c.localLocked()); err == nil {
		return iv.Earliest.Add(iv.Latest.Sub(iv.Earliest) / 2).UnixNano()
	}
	return 0
}

// Synced returns a channel that closes once this node has a bound on
// cluster time for the first time (its first good sample, or becoming
// the reference). Readings may still fail later, if the bound grows past
// MaxUncertainty.
func (c *Clock) Synced() <-chan struct{} { return c.synced }

func (c *Clock) markSynced() { c.syncedOnce.Do(func() { close(c.synced) }) }

// Close stops sampling, gives up the reference role, removes the Stamper
// and waits for the Clock's goroutines. It returns within the election
// lease TTL (the reference's resignation waits at most that long for the
// voters: 1 s on Local, 5 s on LAN, 15 s on WAN), plus at most a second
// for a sample in flight to hand its cancellation to the connection. A
// follower's Close waits for nothing on the network. Idempotent.
func (c *Clock) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	c.mu.Unlock()
	c.node.SetStamper(nil)
	c.node.Handle(methodSample, nil)
	c.node.Handle(methodPeek, nil)
	c.cancel()
	err := c.el.Close()
	c.wg.Wait()
	c.release() // a new Clock may start on the node now
	return err
}

// clockKey is the node's one Clock slot (cluster.Node.Exclusive).
type clockKey struct{}
