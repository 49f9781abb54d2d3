package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/eventlog"
)

// member is a group subscription's place in its group.
type member struct {
	group         string
	id            string // unique to the Subscription: its deliveries are its own
	from          uint64 // where a new group starts
	ackWait       time.Duration
	maxDeliveries int
	prefetch      int
	seen          uint64 // the topic's next offset, as last read: waits start there
	req           uint64 // numbers its fetches: one sent again gets its events back
	// unanswered is set while the fetch numbered req has no answer (its
	// Next returned an error): the next fetch goes under the same number,
	// so that what the voters handed out for it comes back, with what is
	// left of its hold (asked: when it was first asked).
	unanswered bool
	asked      time.Time
	// taken holds the events of the last fetch that Next has not
	// returned yet, when that fetch was first asked (takenAt), and when
	// the try that got its answer was sent (takenSent).
	taken     []eventlog.Event
	takenAt   time.Time
	takenSent time.Time
	skipped   atomic.Int64 // events taken and skipped (Subscription.Skipped)
}

// newMember returns the group membership of a Subscription on node.
func newMember(node string, o subscribeOptions, from uint64) *member {
	b := make([]byte, 6)
	rand.Read(b)
	wait := o.ackWait
	if wait == 0 {
		wait = DefaultAckWait
	}
	return &member{group: o.group, id: node + "/" + hex.EncodeToString(b), from: from, ackWait: wait, maxDeliveries: o.maxDeliveries,
		prefetch: max(o.prefetch, 1), seen: 1}
}

// acker is what an event handed out by a group needs to be acked.
type acker struct {
	s     *Stream
	topic string
	m     *member
}

// Ack tells the event's group that it is done with the event: it is not
// handed out again. It is for events of a group subscription; an event
// that the group handed to another member since (its AckWait passed) is
// not affected, and Ack returns nil then too: the event may be processed
// twice, so make its effects idempotent or fenced.
func (e Event) Ack(ctx context.Context) error { return e.settle(ctx, eventlog.OpAck) }

// Nack hands the event back to its group, to be handed out again at
// once (to any member).
func (e Event) Nack(ctx context.Context) error { return e.settle(ctx, eventlog.OpNack) }

// Deliveries counts how often the event's group handed it out, this time
// included (0 outside a group).
func (e Event) Deliveries() int { return e.deliveries }

// HeldUntil is when the group's hold of the event for this member ends,
// at the earliest, by this node's clock (zero outside a group): until
// then no other member is handed it; after it, the group may hand it
// out again. It is AckWait after the member sent the fetch that took
// it, or less if the fetch's first answer was lost (the answer to the
// fetch sent again is the first one's hand-out, with what is left of
// it): Next may return an event whose hold is about to end.
func (e Event) HeldUntil() time.Time { return e.heldUntil }

func (e Event) settle(ctx context.Context, op eventlog.Op) error {
	if e.ack == nil {
		return errtext.Errorf("events: ", "events: %v of offset %d: %w (not from a group subscription)", op, e.Offset, ErrBadInput)
	}
	a := e.ack
	res, err := a.s.svc.DoEvents(ctx, []eventlog.Cmd{{Op: op, Topic: a.topic, Group: a.m.group, Member: a.m.id, Offset: e.Offset}})
	if err != nil {
		return a.s.voterErr(op.String(), a.topic, err)
	}
	return res[0].Error()
}

// nextInGroup asks the group for an event for this member, and waits for
// new events (or for the next redelivery, at most pollWait) while it has
// none.
func (sub *Subscription) nextInGroup(ctx context.Context) (Event, error) {
	m := sub.m
	for {
		if sub.ctx.Err() != nil {
			return Event{}, ErrClosed
		}
		if e, ok := m.fromTaken(); ok {
			ev := event(sub.topic, e)
			ev.ack, ev.deliveries, ev.heldUntil = &acker{s: sub.s, topic: sub.topic, m: m}, e.Deliveries, m.holdEnd(e)
			return ev, nil
		}
		if !m.unanswered {
			m.req++
			m.asked = time.Now()
		}
		fetch := eventlog.Cmd{Op: eventlog.OpFetch, Topic: sub.topic, Group: m.group, Member: m.id, Max: m.prefetch,
			AckWait: m.ackWait, MaxDeliveries: m.maxDeliveries, From: m.from, Request: m.req}
		res, sent, err := sub.s.svc.DoEventsSent(ctx, []eventlog.Cmd{fetch})
		m.unanswered = err != nil
		if err == nil && time.Since(m.asked) >= m.ackWait {
			// An answer this late may come after what the fetch was
			// handed the first time went out again (sent again, it
			// found nothing still out with this member): missed.
			m.skipped.Add(1)
		}
		switch {
		case sub.ctx.Err() != nil:
			return Event{}, ErrClosed
		case err != nil && ctx.Err() != nil:
			return Event{}, ctx.Err()
		case err != nil:
			return Event{}, sub.s.voterErr("read", sub.topic, err)
		case errors.Is(res[0].Error(), eventlog.ErrTruncated):
			return Event{}, fmt.Errorf("events: %q: group %q from offset %d: %w", sub.topic, m.group, m.from, ErrTruncated)
		case res[0].Error() != nil:
			return Event{}, fmt.Errorf("events: %q: group %q: %w", sub.topic, m.group, res[0].Error())
		case len(res[0].Events) > 0:
			m.taken, m.takenAt, m.takenSent = res[0].Events, m.asked, sent
			continue
		}
		_, next, err := sub.s.svc.WaitEvents(ctx, sub.topic, m.seen, 1, pollWait)
		switch {
		case err == nil || errors.Is(err, eventlog.ErrTruncated):
			m.seen = max(m.seen, next)
		case sub.ctx.Err() != nil:
			return Event{}, ErrClosed
		case ctx.Err() != nil:
			return Event{}, ctx.Err()
		default:
			return Event{}, sub.s.voterErr("read", sub.topic, err)
		}
	}
}

// fromTaken returns the next event of the last fetch whose hold has not
// ended (holdEnd): one whose has may be with another member already, so
// it is skipped.
func (m *member) fromTaken() (eventlog.Event, bool) {
	for len(m.taken) > 0 {
		e := m.taken[0]
		m.taken = m.taken[1:]
		if time.Now().Before(m.holdEnd(e)) {
			return e, true
		}
		m.skipped.Add(1)
	}
	return eventlog.Event{}, false
}

// holdEnd is when the group's hold of e, taken by the last fetch, ends
// at the earliest: what was left of it (e.Left) after the try that got
// the answer was sent, since the leader stamped the fetch later. So a
// fetch that waited through an outage of the voters keeps what it is
// handed once they answer, rather than skip it, which would waste one
// of the event's MaxDeliveries for nothing. From a leader that gives no
// Left, AckWait after the fetch was first asked.
func (m *member) holdEnd(e eventlog.Event) time.Time {
	if e.Left > 0 {
		return m.takenSent.Add(time.Duration(e.Left))
	}
	return m.takenAt.Add(m.ackWait)
}

// Skipped counts the hand-outs this group subscription missed: events it
// took from its group and skipped because their hold had ended before
// Next reached them (a try of the fetch whose answer took longer than
// the hold, or a Prefetch batch handled too slowly; a fetch handed
// events after waiting through an outage of the voters keeps them),
// and fetches answered AckWait or more after they were first asked,
// whose first hand-outs may have gone out again before the answer
// came. The group hands such events out again, and each missed
// hand-out counts toward MaxDeliveries. 0 for a subscription that is
// not a group's.
func (sub *Subscription) Skipped() int {
	if sub.m == nil {
		return 0
	}
	return int(sub.m.skipped.Load())
}
