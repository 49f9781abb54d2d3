package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/check"
)

// EventWorkload publishes to one topic from every node, every Every,
// and reads it with one subscription per node from offset 1, recording
// the history for check.CheckEvents. A crashed node's publisher and
// subscription stop; a restarted node starts new ones. Safe for
// concurrent use.
type EventWorkload struct {
	c      *Cluster
	topic  string
	every  time.Duration
	unsafe bool
	wg     sync.WaitGroup // the nodes' loops, and Streams still closing

	mu     sync.Mutex // protects the fields below
	nodes  map[string]*eventNode
	closed bool
	quiet  time.Time // when Quiet stopped the publishers; zero: they run
	seq    int       // numbers payloads and subscriptions
	hist   check.EventHistory
}

// eventNode is one node's part of the workload.
type eventNode struct {
	s      *events.Stream
	cancel context.CancelFunc
	done   sync.WaitGroup // its publisher and subscriber
}

// StartEvents starts the workload on every alive node of c.
func StartEvents(c *Cluster, topic string, every time.Duration) (*EventWorkload, error) {
	return StartEventsWith(c, EventOptions{Topic: topic, Every: every})
}

// EventOptions sets up an EventWorkload.
type EventOptions struct {
	Topic string
	Every time.Duration // each node publishes this often
	// Unsafe makes every reader a consumer that does not keep its place:
	// when Next has returned nothing for UnsafeWait, or an error, it
	// subscribes again at Latest under the same record. Where a fault
	// holds a reader back (a partition, a lost quorum) it skips what was
	// published meanwhile, and check.CheckEvents reports S1 and S2
	// broken: the chaos engine's -unsafe uses it to show that the event
	// checker can fail.
	Unsafe bool
}

// UnsafeWait is how long an Unsafe reader waits for an event.
const UnsafeWait = 500 * time.Millisecond

// StartEventsWith starts the workload that o describes on every alive
// node of c.
func StartEventsWith(c *Cluster, o EventOptions) (*EventWorkload, error) {
	w := &EventWorkload{c: c, topic: o.Topic, every: o.Every, unsafe: o.Unsafe, nodes: map[string]*eventNode{}}
	ignore := func(error) {} // a node that cannot start its Stream just records nothing
	if err := startWorkload(c, w.start, w.Close, ignore, Hooks{OnCrash: w.stop}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *EventWorkload) start(n *cluster.Node) error {
	s, err := events.New(n)
	if err != nil {
		return fmt.Errorf("sim: events on %s: %w", n.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.Subscribe(ctx, w.topic, events.FromOffset(1))
	if err != nil {
		cancel()
		s.Close()
		return fmt.Errorf("sim: subscribe on %s: %w", n.Name(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		cancel()
		return s.Close()
	}
	w.seq++
	i := len(w.hist.Subscriptions)
	w.hist.Subscriptions = append(w.hist.Subscriptions, check.SubscriptionRecord{Name: fmt.Sprintf("%s#%d", n.Name(), w.seq), Topic: w.topic, From: 1})
	en := &eventNode{s: s, cancel: cancel}
	w.nodes[n.Name()] = en
	en.done.Go(func() { w.publish(ctx, n.Name(), s) })
	en.done.Go(func() { w.read(ctx, i, s, sub) })
	return nil
}

// publish publishes one event every w.every until ctx ends.
func (w *EventWorkload) publish(ctx context.Context, node string, s *events.Stream) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		if !w.quiet.IsZero() {
			w.mu.Unlock()
			return
		}
		w.seq++
		p := check.Publication{Node: node, Topic: w.topic, Payload: fmt.Sprintf("%s-%d", node, w.seq), Called: time.Now()}
		w.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		e, err := s.Publish(pctx, w.topic, []byte(p.Payload))
		cancel()
		p.Done, p.OK, p.Offset = time.Now(), err == nil, e.Offset
		if ctx.Err() != nil && err != nil {
			return // stopped mid-publish: neither acknowledged nor a failure of the stream
		}
		w.mu.Lock()
		w.hist.Publications = append(w.hist.Publications, p)
		w.mu.Unlock()
	}
}

// read records what subscription i returns until ctx ends or the
// node's services close (a leave closes them before the workload's
// hook runs). Other errors are waited out: a loop that asked again at
// once would spin, and in a synctest bubble stop virtual time.
func (w *EventWorkload) read(ctx context.Context, i int, s *events.Stream, sub *events.Subscription) {
	defer func() { sub.Close() }()
	for ctx.Err() == nil {
		e, err := w.next(ctx, sub)
		if w.unsafe && err != nil && ctx.Err() == nil && !errors.Is(err, events.ErrClosed) {
			if again, serr := s.Subscribe(ctx, w.topic, events.Latest()); serr == nil {
				sub.Close()
				sub = again
			}
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		var te *events.TruncatedError
		w.mu.Lock()
		rec := &w.hist.Subscriptions[i]
		switch {
		case err == nil:
			rec.Deliveries = append(rec.Deliveries, check.Delivery{Offset: e.Offset, Payload: string(e.Payload), At: time.Now()})
		case errors.As(err, &te):
			rec.Truncated = append(rec.Truncated, check.Truncation{Before: len(rec.Deliveries), Lost: te.To})
		}
		w.mu.Unlock()
		switch {
		case err == nil || te != nil:
		case errors.Is(err, events.ErrClosed):
			return
		default:
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
}

// next returns the subscription's next event; an Unsafe reader waits
// at most UnsafeWait for it.
func (w *EventWorkload) next(ctx context.Context, sub *events.Subscription) (events.Event, error) {
	if !w.unsafe {
		return sub.Next(ctx)
	}
	nctx, cancel := context.WithTimeout(ctx, UnsafeWait)
	defer cancel()
	return sub.Next(nctx)
}

// stop ends a crashed node's part. Closing its Stream may wait on the
// unreachable voters, so it goes on in the background.
func (w *EventWorkload) stop(name string) {
	w.mu.Lock()
	en := w.nodes[name]
	delete(w.nodes, name)
	w.mu.Unlock()
	if en == nil {
		return
	}
	en.cancel()
	w.wg.Go(func() {
		en.done.Wait()
		en.s.Close()
	})
}

// Quiet stops the publishers, on every node and on those that restart
// later, while the subscriptions go on reading, and returns when: no
// Publish is called from then on. Later calls return the first's time.
func (w *EventWorkload) Quiet() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.quiet.IsZero() {
		w.quiet = time.Now()
	}
	return w.quiet
}

// quietSince returns when Quiet stopped the publishers (zero: not yet).
func (w *EventWorkload) quietSince() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.quiet
}

// Close stops the workload everywhere and waits for it.
func (w *EventWorkload) Close() {
	w.mu.Lock()
	w.closed = true
	names := make([]string, 0, len(w.nodes))
	for name := range w.nodes {
		names = append(names, name)
	}
	w.mu.Unlock()
	for _, name := range names {
		w.stop(name)
	}
	w.wg.Wait()
}

// History returns what the workload recorded so far.
func (w *EventWorkload) History() check.EventHistory {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := check.EventHistory{Publications: append([]check.Publication(nil), w.hist.Publications...)}
	for _, s := range w.hist.Subscriptions {
		s.Deliveries = append([]check.Delivery(nil), s.Deliveries...)
		s.Truncated = append([]check.Truncation(nil), s.Truncated...)
		h.Subscriptions = append(h.Subscriptions, s)
	}
	return h
}
