package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Errors of the package.
var (
	// ErrNoQuorum: the voters could not be reached (no group, or no
	// majority) before the call's ctx ended. A Publish that returns it
	// may or may not have appended its event (see Publish).
	ErrNoQuorum = errors.New("events: no quorum")
	// ErrTruncated: the subscription asked for, or fell behind to, an
	// offset that retention has removed. It is never skipped silently:
	// subscribe again from the offset the error names, or later.
	ErrTruncated = errors.New("events: offset removed by retention")
	// ErrClosed: the Stream or the Subscription is closed.
	ErrClosed = errors.New("events: closed")
	// ErrBadInput: an empty or oversized topic, payload or metadata, or
	// an option out of range.
	ErrBadInput = errors.New("events: bad input")
)

// Limits of the input.
const (
	MaxTopicLen = 256     // bytes
	MaxPayload  = 1 << 20 // bytes
	MaxMetadata = 16 << 10
	maxBatch    = 256             // events a subscription reads at once
	pollWait    = 2 * time.Second // a read that finds nothing waits this long on the member
)

// PublishOption configures one Publish.
type PublishOption func(*publishOptions) error

type publishOptions struct {
	metadata map[string]string
	key      string
}

// Metadata attaches m to the event (at most MaxMetadata bytes of keys and
// values in all).
func Metadata(m map[string]string) PublishOption {
	return func(o *publishOptions) error {
		n := 0
		for k, v := range m {
			n += len(k) + len(v)
		}
		if n > MaxMetadata {
			return errtext.Errorf("events: ", "events: Metadata of %d bytes: %w (at most %d)", n, ErrBadInput, MaxMetadata)
		}
		o.metadata = m
		return nil
	}
}

// IdempotencyKey makes a retried Publish safe: while the topic still
// holds an event published with key, a Publish with the same key appends
// nothing and returns that event's offset. A key must not start with a
// zero byte: those are the keys Publish gives events that have none.
func IdempotencyKey(key string) PublishOption {
	return func(o *publishOptions) error {
		if key == "" || len(key) > MaxTopicLen {
			return errtext.Errorf("events: ", "events: IdempotencyKey of %d bytes: %w (1 to %d)", len(key), ErrBadInput, MaxTopicLen)
		}
		if key[0] == 0 {
			return errtext.Errorf("events: ", "events: IdempotencyKey starting with a zero byte: %w (reserved)", ErrBadInput)
		}
		o.key = key
		return nil
	}
}

// SubscribeOption configures a Subscription.
type SubscribeOption func(*subscribeOptions) error

type subscribeOptions struct {
	from          uint64
	at            time.Time
	latest        bool
	group         string
	ackWait       time.Duration
	maxDeliveries int
	prefetch      int
}

// Defaults of a group subscription.
const (
	DefaultAckWait = 30 * time.Second
	MaxAckWait     = 24 * time.Hour
	MaxPrefetch    = 1000
)

// Group makes the subscription a member of consumer group name on the
// topic: the group hands each event to one member at a time, which acks
// it (Event.Ack) within AckWait or sees it handed out again, to any
// member, at most MaxDeliveries times (S3). The group's position and its
// deliveries live in the voters' log: they survive the crash of any
// member. A new group starts where the other options say (by default at
// the first retained event); an existing one goes on from its position.
func Group(name string) SubscribeOption {
	return func(o *subscribeOptions) error {
		if name == "" || len(name) > MaxTopicLen {
			return errtext.Errorf("events: ", "events: Group of %d bytes: %w (1 to %d)", len(name), ErrBadInput, MaxTopicLen)
		}
		o.group = name
		return nil
	}
}

// AckWait is how long a group member has to ack an event before the
// group hands it out again (default DefaultAckWait, at most MaxAckWait).
// It counts from the hand-out, by the voters' leader's clock.
func AckWait(d time.Duration) SubscribeOption {
	return func(o *subscribeOptions) error {
		if d <= 0 || d > MaxAckWait {
			return errtext.Errorf("events: ", "events: AckWait(%v): %w (more than 0, at most %v)", d, ErrBadInput, MaxAckWait)
		}
		o.ackWait = d
		return nil
	}
}

// MaxDeliveries bounds how often a group hands out one event (0, the
// default: no bound); an event handed out that often and not acked is
// dropped by the group. It applies when the group is created.
func MaxDeliveries(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 0 {
			return errtext.Errorf("events: ", "events: MaxDeliveries(%d): %w (0 or more)", n, ErrBadInput)
		}
		o.maxDeliveries = n
		return nil
	}
}

// Prefetch lets a group member take up to n events from its group in
// one round to the voters' leader (default 1, at most MaxPrefetch), and
// hand them out one by one from Next: under load a member then costs
// the voters one entry per n events instead of one per event. Every
// event it took is its own from that round on: its AckWait runs while
// it waits in the member (from when the round was sent), another member
// cannot have it meanwhile, and an event whose AckWait passed before
// Next reached it is skipped (the
// group hands it out again), and so is what the member took but had not
// returned when it closed, once its AckWait passes (Subscription.Skipped
// counts what it skipped). Prefetch a batch
// that the member handles well within AckWait; 1 spreads the events
// most evenly over the members.
func Prefetch(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 1 || n > MaxPrefetch {
			return errtext.Errorf("events: ", "events: Prefetch(%d): %w (1 to %d)", n, ErrBadInput, MaxPrefetch)
		}
		o.prefetch = n
		return nil
	}
}

// FromOffset starts the subscription at offset n (offsets start at 1).
// An offset that retention removed is ErrTruncated.
func FromOffset(n uint64) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n == 0 {
			return errtext.Errorf("events: ", "events: FromOffset(0): %w (offsets start at 1)", ErrBadInput)
		}
		o.from, o.at, o.latest = n, time.Time{}, false
		return nil
	}
}

// FromTime starts the subscription at the first event appended at or
// after t (by the voters' leader's clock), as the voter it asks knows
// the topic: one that lags the leader may start it at an earlier event
// that it has not applied yet.
func FromTime(t time.Time) SubscribeOption {
	return func(o *subscribeOptions) error {
		if t.IsZero() {
			return errtext.Errorf("events: ", "events: FromTime(zero time): %w", ErrBadInput)
		}
		o.from, o.at, o.latest = 0, t, false
		return nil
	}
}

// Latest starts the subscription after the last event appended so far
// (after every Publish that returned before Subscribe was called): it
// sees only new events. Finding that place costs an entry in the
// voters' log.
func Latest() SubscribeOption {
	return func(o *subscribeOptions) error {
		o.from, o.at, o.latest = 0, time.Time{}, true
		return nil
	}
}

// checkTopic refuses an empty or oversized topic.
func checkTopic(topic string) error {
	if topic == "" || len(topic) > MaxTopicLen {
		return fmt.Errorf("events: topic of %d bytes: %w (1 to %d)", len(topic), ErrBadInput, MaxTopicLen)
	}
	return nil
}
