package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/eventlog"
)

// Subscription reads one topic in offset order: every subscriber of a
// topic sees the same events at the same offsets, and one Subscription
// returns each offset once, with no gap (S1). Next is for one goroutine
// at a time; Close may be called from any.
type Subscription struct {
	s     *Stream
	topic string

	m *member // a group subscription's membership; nil for a plain one

	mu     sync.Mutex
	next   uint64             // the offset Next returns next
	buf    []eventlog.Event   // read ahead, from next on
	ctx    context.Context    // ends at Close: ends a Next in progress
	cancel context.CancelFunc // of ctx
}

// Subscribe starts reading topic: from its first retained event, or
// where an option says (FromOffset, FromTime, Latest). The topic need not
// have events yet.
func (s *Stream) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (*Subscription, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	var o subscribeOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.group == "" && (o.ackWait != 0 || o.maxDeliveries != 0 || o.prefetch != 0) {
		return nil, fmt.Errorf("events: subscribe to %q: AckWait, MaxDeliveries and Prefetch are for a Group: %w", topic, ErrBadInput)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	start, err := s.start(ctx, topic, o)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{s: s, topic: topic, next: start}
	if o.group != "" {
		sub.m = newMember(s.node.Name(), o, start)
	}
	sub.ctx, sub.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sub.cancel()
		return nil, ErrClosed
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

// start resolves the first offset of a subscription.
func (s *Stream) start(ctx context.Context, topic string, o subscribeOptions) (uint64, error) {
	switch {
	case o.from != 0:
		return o.from, nil
	case !o.at.IsZero():
		off, err := s.svc.SeekEvents(ctx, topic, o.at.UnixNano())
		if err != nil {
			return 0, s.voterErr("subscribe to", topic, err)
		}
		return off, nil
	}
	if o.latest {
		// The next offset as of a place in the log after every Publish
		// that returned: a member that lags could give an earlier one.
		res, err := s.svc.DoEvents(ctx, []eventlog.Cmd{{Op: eventlog.OpPosition, Topic: topic}})
		if err != nil {
			return 0, s.voterErr("subscribe to", topic, err)
		}
		switch {
		case len(res) != 1:
			return 0, fmt.Errorf("events: subscribe to %q: %d answers to one command", topic, len(res))
		case res[0].Error() != nil:
			return 0, fmt.Errorf("events: subscribe to %q: %w", topic, res[0].Error())
		case len(res[0].Offsets) != 1:
			return 0, fmt.Errorf("events: subscribe to %q: the voters' answer has no position", topic)
		}
		return res[0].Offsets[0], nil
	}
	// The first retained event: a read of nothing from offset 1 answers
	// with ErrTruncated if offset 1 is gone.
	_, _, err := s.svc.ReadEvents(ctx, topic, 1, 0)
	switch {
	case err != nil && !errors.Is(err, eventlog.ErrTruncated):
		return 0, s.voterErr("subscribe to", topic, err)
	case err == nil:
		return 1, nil
	}
	return s.first(ctx, topic)
}

// first returns the topic's first retained offset (1 if none is).
func (s *Stream) first(ctx context.Context, topic string) (uint64, error) {
	off, err := s.svc.SeekEvents(ctx, topic, 0)
	if err != nil {
		return 0, s.voterErr("subscribe to", topic, err)
	}
	return off, nil
}

// Next returns the next event, waiting for one to be published if
// there is none yet, until ctx ends or the Subscription closes
// (ErrClosed). On a group subscription it is the next event the group
// hands this member: Ack it when done (see Group). If retention removed the next offset before it was read,
// Next returns an error wrapping ErrTruncated that names the offsets
// lost; a later Next goes on from the first retained event.
func (sub *Subscription) Next(ctx context.Context) (Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub.mu.Lock()
	stop := context.AfterFunc(sub.ctx, cancel)
	sub.mu.Unlock()
	defer stop()
	if sub.m != nil {
		return sub.nextInGroup(ctx)
	}
	var idle backoff
	for {
		sub.mu.Lock()
		if sub.ctx.Err() != nil {
			sub.mu.Unlock()
			return Event{}, ErrClosed
		}
		if len(sub.buf) > 0 {
			e := sub.buf[0]
			sub.buf = sub.buf[1:]
			sub.next = e.Offset + 1
			sub.mu.Unlock()
			return event(sub.topic, e), nil
		}
		from := sub.next
		sub.mu.Unlock()
		asked := time.Now()
		events, _, err := sub.s.svc.WaitEvents(ctx, sub.topic, from, maxBatch, pollWait)
		switch {
		case sub.ctx.Err() != nil:
			return Event{}, ErrClosed
		case errors.Is(err, eventlog.ErrTruncated):
			first, ferr := sub.s.first(ctx, sub.topic)
			if ferr != nil {
				return Event{}, ferr
			}
			sub.mu.Lock()
			sub.next = max(sub.next, first)
			sub.mu.Unlock()
			return Event{}, &TruncatedError{Topic: sub.topic, From: from, To: first - 1}
		case err != nil && ctx.Err() != nil:
			return Event{}, ctx.Err()
		case err != nil:
			return Event{}, sub.s.voterErr("read", sub.topic, err)
		}
		sub.mu.Lock()
		for _, e := range events {
			if e.Offset == sub.next+uint64(len(sub.buf)) { // in order and no gap: anything else is a stale answer
				sub.buf = append(sub.buf, e)
			}
		}
		got := len(sub.buf) > 0
		sub.mu.Unlock()
		switch {
		case got || time.Since(asked) >= pollWait/2: // an answer, or a read the member held
			idle.d = 0
		case !idle.wait(ctx):
			return Event{}, ctx.Err()
		}
	}
}

// backoff spaces the reads that found nothing at once: the member holds
// a read up to pollWait, but one that is shutting down answers at once,
// and asking again at once would spin.
type backoff struct{ d time.Duration }

// wait waits the next backoff, 10 ms doubling to 200 ms; false if ctx
// ended first.
func (b *backoff) wait(ctx context.Context) bool {
	b.d = min(max(2*b.d, 10*time.Millisecond), 200*time.Millisecond)
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Close ends the Subscription: a Next in progress returns ErrClosed.
// Idempotent.
func (sub *Subscription) Close() error {
	sub.mu.Lock()
	sub.cancel()
	sub.buf = nil
	sub.mu.Unlock()
	sub.s.mu.Lock()
	delete(sub.s.subs, sub)
	sub.s.mu.Unlock()
	return nil
}

// TruncatedError is Next's error when retention removed offsets From to
// To of Topic before the Subscription read them. It matches ErrTruncated
// (errors.Is).
type TruncatedError struct {
	Topic    string
	From, To uint64
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("events: %q: offsets %d to %d: %v", e.Topic, e.From, e.To, ErrTruncated)
}

// Is reports whether target is ErrTruncated.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }
