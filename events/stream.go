package events

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/eventlog"
	"github.com/gossipsync/gossipsync/voters"
)

// Event is one event of a topic.
type Event struct {
	Topic  string
	Offset uint64 // its place in the topic: 1, 2, 3, ... for every subscriber
	// Time is when the voters' leader appended it, by that leader's
	// clock (Wall, ns since the Unix epoch; Logical is 0). Times never
	// decrease along the offsets.
	Time     clock.Timestamp
	Metadata map[string]string
	Payload  []byte

	ack        *acker // set for an event of a group subscription
	deliveries int
	heldUntil  time.Time
}

// Stream publishes to and subscribes to the topics of the cluster's
// event log, which the voters replicate (package voters). Safe for
// concurrent use.
type Stream struct {
	node    *cluster.Node
	svc     *voters.Service
	release func()

	ctx    context.Context // ends at Close: ends the requests of Publish
	cancel context.CancelFunc
	batch  batcher // Publish's requests (publish.go)

	mu     sync.Mutex
	closed bool
	subs   map[*Subscription]struct{}
}

// New returns a Stream on n. Every node that publishes or subscribes
// runs the node's voter service, and counts towards the voters' quorum
// basis (see package voters).
func New(n *cluster.Node) (*Stream, error) {
	if n == nil {
		return nil, errors.New("events: New: nil node")
	}
	svc, release := voters.Acquire(n)
	ctx, cancel := context.WithCancel(context.Background())
	return &Stream{node: n, svc: svc, release: release, ctx: ctx, cancel: cancel, subs: map[*Subscription]struct{}{}}, nil
}

// Close closes every Subscription of the Stream and releases the node's
// voter service. Idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for sub := range subs {
		sub.Close()
	}
	s.cancel()
	s.batch.wg.Wait()
	s.release()
	return nil
}

// Publish appends payload to topic and returns the event as the log
// holds it. It returns once the event is in the voters' log on a
// majority and applied by their leader: from then on it is not lost
// while a majority of the voters lives, and every subscriber of the
// topic sees it at its offset (until retention removes it).
//
// It waits as long as ctx lets it (without a deadline, until the voters
// answer or the Stream closes). An error may leave the outcome unknown:
// a Publish that returned ErrNoQuorum or its ctx's error may have
// appended the event, and a retry appends it again, unless both carry
// the same IdempotencyKey.
//
// Within one call the event is appended once: the call sends its
// command again when a voter does not answer in time, and a voter may
// still append the first one later, so an event published without a
// key gets one of its own (a zero byte and 12 random ones, stored with
// the event and counted in the topic's bytes) that makes the second
// copy return the first one's offset.
func (s *Stream) Publish(ctx context.Context, topic string, payload []byte, opts ...PublishOption) (Event, error) {
	if err := checkTopic(topic); err != nil {
		return Event{}, err
	}
	if len(payload) > MaxPayload {
		return Event{}, errtext.Errorf("events: ", "events: payload of %d bytes: %w (at most %d)", len(payload), ErrBadInput, MaxPayload)
	}
	var o publishOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Event{}, err
		}
	}
	if err := s.check(); err != nil {
		return Event{}, err
	}
	if o.key == "" {
		o.key = onceKey()
	}
	cmd := eventlog.Cmd{Op: eventlog.OpPublish, Topic: topic, Events: []eventlog.Event{{Key: o.key, Metadata: o.metadata, Payload: payload}}}
	res, err := s.publish(ctx, cmd)
	switch {
	case err != nil && s.ctx.Err() != nil:
		return Event{}, ErrClosed
	case err != nil && ctx.Err() != nil:
		return Event{}, fmt.Errorf("events: publish to %q: %w", topic, ctx.Err())
	case err != nil:
		return Event{}, s.voterErr("publish", topic, err)
	case res.Error() != nil:
		return Event{}, fmt.Errorf("events: publish to %q: %w", topic, res.Error())
	case len(res.Offsets) != 1 || len(res.Times) != 1:
		return Event{}, fmt.Errorf("events: publish to %q: %w", topic, errBatchAnswer)
	}
	return Event{Topic: topic, Offset: res.Offsets[0], Time: clock.Timestamp{Wall: res.Times[0]}, Metadata: o.metadata, Payload: payload}, nil
}

// errBatchAnswer is a voter's answer that does not match the request.
var errBatchAnswer = errors.New("events: the voters' answer does not match the request")

// check returns ErrClosed once the Stream is closed.
func (s *Stream) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// voterErr turns an error of the voter service into this package's.
func (s *Stream) voterErr(what, topic string, err error) error {
	switch {
	case errors.Is(err, voters.ErrClosed):
		return ErrClosed
	case errors.Is(err, eventlog.ErrTruncated):
		return fmt.Errorf("events: %s %q: %w", what, topic, ErrTruncated)
	}
	return fmt.Errorf("events: %s %q: %w (%w)", what, topic, ErrNoQuorum, err)
}

// event converts an event of the log.
func event(topic string, e eventlog.Event) Event {
	return Event{Topic: topic, Offset: e.Offset, Time: clock.Timestamp{Wall: e.Time}, Metadata: e.Metadata, Payload: e.Payload}
}

// SetRetention bounds what topic keeps, on every voter: events no older
// than maxAge (0: any age; trimmed by the voters' leader when its clock
// says they are due) and at most maxBytes of payloads, keys and metadata
// (0 keeps the current bound, 64 MiB for a new topic; the newest event
// always stays). Removing events this way is what ErrTruncated reports
// to the subscriptions that had not read them.
func (s *Stream) SetRetention(ctx context.Context, topic string, maxAge time.Duration, maxBytes int64) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if maxAge < 0 || maxBytes < 0 {
		return errtext.Errorf("events: ", "events: SetRetention(%v, %d): %w (0 or more)", maxAge, maxBytes, ErrBadInput)
	}
	if err := s.check(); err != nil {
		return err
	}
	res, err := s.svc.DoEvents(ctx, []eventlog.Cmd{{Op: eventlog.OpConfigure, Topic: topic, MaxAge: maxAge, MaxBytes: maxBytes}})
	if err != nil {
		return s.voterErr("set retention of", topic, err)
	}
	return res[0].Error()
}

// onceKey returns the idempotency key of a Publish that has none: a
// zero byte, which no user key starts with, and 96 random bits.
func onceKey() string {
	b := make([]byte, 13)
	rand.Read(b[1:])
	return string(b)
}
