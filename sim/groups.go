package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/sim/check"
)

// GroupOptions configures a group workload. The zero value of a field
// means its default.
type GroupOptions struct {
	Group         string        // the consumer group; default "workers"
	AckWait       time.Duration // default 1 s
	MaxDeliveries int           // 0: no bound
	// Nack and Ignore are the shares of deliveries a member nacks and
	// leaves unsettled (to be handed out again after AckWait); it acks
	// the others. Defaults 0.05 each; negative: none.
	Nack, Ignore float64
	// Work is the longest a member works on an event before it settles
	// it (drawn uniformly from 0 to Work); default 20 ms.
	Work time.Duration
	Seed int64
}

// withDefaults returns o with its zero fields set to their defaults.
func (o GroupOptions) withDefaults() GroupOptions {
	if o.Group == "" {
		o.Group = "workers"
	}
	if o.AckWait == 0 {
		o.AckWait = time.Second
	}
	if o.Nack == 0 {
		o.Nack = 0.05
	}
	if o.Ignore == 0 {
		o.Ignore = 0.05
	}
	if o.Work == 0 {
		o.Work = 20 * time.Millisecond
	}
	return o
}

// GroupWorkload runs a member of one consumer group on every alive
// node, reading the topic an EventWorkload publishes to from offset 1:
// each member acks most events it is handed, nacks some and leaves some
// unsettled, and the workload records every delivery for
// check.CheckGroup. A crashed node's member stops (what it held is
// handed out again after AckWait); a restarted node starts a new one.
// Safe for concurrent use.
type GroupWorkload struct {
	c   *Cluster
	ew  *EventWorkload
	opt GroupOptions
	wg  sync.WaitGroup // Streams still closing

	mu      sync.Mutex // protects the fields below
	members map[string]*groupMember
	closed  bool
	end     time.Time // when Close stopped the members
	starts  map[string]int
	rec     check.GroupRecord
}

// groupMember is one node's member of the group.
type groupMember struct {
	s       *events.Stream
	cancel  context.CancelFunc
	done    sync.WaitGroup // its consumer
	stalled bool           // it settles nothing (Stall)
}

// StartGroupEvents starts a member of the group on every alive node of
// c, on the topic of ew.
func StartGroupEvents(c *Cluster, ew *EventWorkload, o GroupOptions) (*GroupWorkload, error) {
	o = o.withDefaults()
	w := &GroupWorkload{c: c, ew: ew, opt: o, members: map[string]*groupMember{}, starts: map[string]int{},
		rec: check.GroupRecord{Topic: ew.topic, Group: o.Group, From: 1, AckWait: o.AckWait, MaxDeliveries: o.MaxDeliveries}}
	ignore := func(error) {} // a node that cannot start its member just records nothing
	if err := startWorkload(c, w.start, w.Close, ignore, Hooks{OnCrash: w.stop}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *GroupWorkload) start(n *cluster.Node) error {
	s, err := events.New(n)
	if err != nil {
		return fmt.Errorf("sim: events on %s: %w", n.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := s.Subscribe(ctx, w.ew.topic, events.Group(w.opt.Group), events.AckWait(w.opt.AckWait),
		events.MaxDeliveries(w.opt.MaxDeliveries), events.FromOffset(1))
	if err != nil {
		cancel()
		s.Close()
		return fmt.Errorf("sim: group member on %s: %w", n.Name(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		cancel()
		return s.Close()
	}
	w.starts[n.Name()]++
	incarnation := w.starts[n.Name()]
	i := len(w.rec.Members)
	w.rec.Members = append(w.rec.Members, check.GroupMember{Name: fmt.Sprintf("%s#%d", n.Name(), incarnation)})
	m := &groupMember{s: s, cancel: cancel}
	w.members[n.Name()] = m
	rng := rand.New(rand.NewPCG(uint64(w.opt.Seed), seedOf(n.Name(), incarnation, 0)))
	m.done.Go(func() { w.consume(ctx, m, i, sub, rng) })
	return nil
}

// consume takes events from sub and settles them, recording what it
// does as member i, until ctx ends or the node's services close.
func (w *GroupWorkload) consume(ctx context.Context, m *groupMember, i int, sub *events.Subscription, rng *rand.Rand) {
	defer sub.Close()
	for ctx.Err() == nil {
		skipped, asked := sub.Skipped(), time.Now()
		e, err := sub.Next(ctx)
		if err != nil || sub.Skipped() > skipped {
			// This Next failed, or skipped hand-outs whose hold ended
			// before it reached them (how many: Skips): hand-outs no
			// member saw.
			w.mu.Lock()
			m := &w.rec.Members[i]
			m.Unknown, m.Asked = append(m.Unknown, time.Now()), append(m.Asked, asked)
			m.Skips = append(m.Skips, sub.Skipped()-skipped)
			w.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, events.ErrClosed) {
				return
			}
			sleepCtx(ctx, 50*time.Millisecond) // asking again at once would spin
			continue
		}
		j, stalled := w.record(m, i, e)
		if stalled {
			continue
		}
		how := w.choose(rng)
		sleepCtx(ctx, time.Duration(rng.Int64N(int64(w.opt.Work)+1)))
		if how == check.Unsettled || ctx.Err() != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		called := time.Now()
		if how == check.Acked {
			err = e.Ack(sctx)
		} else {
			err = e.Nack(sctx)
		}
		cancel()
		w.mu.Lock()
		d := &w.rec.Deliveries[j]
		d.Settle, d.SettleOK, d.Settled, d.SettleCalled = how, err == nil, time.Now(), called
		w.mu.Unlock()
	}
}

// record adds the delivery of e to member i and returns its index, and
// whether the member is stalled.
func (w *GroupWorkload) record(m *groupMember, i int, e events.Event) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rec.Deliveries = append(w.rec.Deliveries, check.GroupDelivery{Member: w.rec.Members[i].Name, Offset: e.Offset,
		Payload: string(e.Payload), Deliveries: e.Deliveries(), At: time.Now(), HeldUntil: e.HeldUntil()})
	return len(w.rec.Deliveries) - 1, m.stalled
}

// choose draws what to do with a delivery.
func (w *GroupWorkload) choose(rng *rand.Rand) check.Settle {
	switch r := rng.Float64(); {
	case r < w.opt.Nack:
		return check.Nacked
	case r < w.opt.Nack+max(w.opt.Ignore, 0):
		return check.Unsettled
	}
	return check.Acked
}

// Stall makes the member on node name settle nothing from now on, as a
// consumer stuck in its work would: it goes on taking events, which the
// group hands out again after AckWait. A member that a restart starts
// is not stalled.
func (w *GroupWorkload) Stall(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := w.members[name]; m != nil {
		m.stalled = true
	}
}

// stop ends a crashed node's member. Closing its Stream may wait on the
// unreachable voters, so it goes on in the background.
func (w *GroupWorkload) stop(name string) {
	w.mu.Lock()
	m := w.members[name]
	delete(w.members, name)
	w.mu.Unlock()
	if m == nil {
		return
	}
	m.cancel()
	w.wg.Go(func() {
		m.done.Wait()
		m.s.Close()
	})
}

// Close stops the members everywhere and waits for them.
func (w *GroupWorkload) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed, w.end = true, time.Now()
	}
	names := make([]string, 0, len(w.members))
	for name := range w.members {
		names = append(names, name)
	}
	w.mu.Unlock()
	for _, name := range names {
		w.stop(name)
	}
	w.wg.Wait()
}

// History returns what the workload recorded so far, with the event
// workload's publications and quiet time; End is when Close was called
// (or now, before).
func (w *GroupWorkload) History() check.GroupHistory {
	pubs := w.ew.History().Publications
	quiet := w.ew.quietSince()
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := w.rec
	rec.Deliveries = append([]check.GroupDelivery(nil), w.rec.Deliveries...)
	rec.Members = nil
	for _, m := range w.rec.Members {
		m.Unknown, m.Asked = append([]time.Time(nil), m.Unknown...), append([]time.Time(nil), m.Asked...)
		m.Skips = append([]int(nil), m.Skips...)
		rec.Members = append(rec.Members, m)
	}
	end := w.end
	if end.IsZero() {
		end = time.Now()
	}
	return check.GroupHistory{Publications: pubs, Groups: []check.GroupRecord{rec}, Quiet: quiet, End: end}
}
