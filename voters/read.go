package voters

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/internal/eventlog"
)

// methodRead reads a topic of the event log from a member's table.
const methodRead = "voters.read"

// readReq asks a member for up to Max events of Topic from offset From,
// waiting up to Wait for one if there is none yet; or, with Seek, for
// the offset of the first event at or after time At.
type readReq struct {
	Group uint64        `msgpack:"g"`
	Topic string        `msgpack:"t"`
	From  uint64        `msgpack:"f"`
	Max   int           `msgpack:"m"`
	Wait  time.Duration `msgpack:"w,omitempty"`
	Seek  bool          `msgpack:"s,omitempty"`
	At    int64         `msgpack:"a,omitempty"`
}

// readResp is the events read and the topic's next offset, or NotMember.
type readResp struct {
	Events    []eventlog.Event `msgpack:"e,omitempty"`
	Next      uint64           `msgpack:"n"`
	Truncated bool             `msgpack:"x,omitempty"` // From is before the topic's first offset
	NotMember bool             `msgpack:"o,omitempty"`
}

// ReadEvents returns up to max events of topic from offset from on, and
// the topic's next offset, as a member of the group has applied them:
// the leader if it answers, else another member. Every member's log is
// a prefix of the leader's, and an event keeps its offset, so reads from
// different members never disagree on an event; a member behind the
// leader returns fewer. An offset before the topic's first is
// eventlog.ErrTruncated. It tries the members in turn until one answers
// or ctx ends.
func (s *Service) ReadEvents(ctx context.Context, topic string, from uint64, max int) ([]eventlog.Event, uint64, error) {
	return s.read(ctx, readReq{Topic: topic, From: from, Max: max})
}

// WaitEvents is ReadEvents that, when there is nothing from offset from
// yet, waits up to wait for an event to be appended (on the member that
// answers) before it returns none.
func (s *Service) WaitEvents(ctx context.Context, topic string, from uint64, max int, wait time.Duration) ([]eventlog.Event, uint64, error) {
	return s.read(ctx, readReq{Topic: topic, From: from, Max: max, Wait: min(wait, maxWait)})
}

// SeekEvents returns the offset of topic's first event whose time is at
// or after at (ns), as ReadEvents reads: the topic's next offset if no
// event is that late yet.
func (s *Service) SeekEvents(ctx context.Context, topic string, at int64) (uint64, error) {
	_, next, err := s.read(ctx, readReq{Topic: topic, Seek: true, At: at})
	return next, err
}

// maxWait bounds how long a member holds a read that found nothing.
const maxWait = 5 * time.Second

func (s *Service) read(ctx context.Context, req readReq) ([]eventlog.Event, uint64, error) {
	var events []eventlog.Event
	var next uint64
	var truncated bool
	err := s.askMembers(ctx, 50*time.Millisecond, func(tctx context.Context, target string, group uint64) (bool, error) {
		if req.Wait > 0 {
			// The member holds the read up to Wait: the try waits
			// that long, and a little more for the answer.
			var cancel context.CancelFunc
			tctx, cancel = context.WithTimeout(ctx, req.Wait+time.Second)
			defer cancel()
		}
		req.Group = group
		resp, err := s.readFrom(tctx, target, req)
		if err != nil || resp.NotMember {
			return false, err
		}
		events, next, truncated = resp.Events, resp.Next, resp.Truncated
		return true, nil
	})
	switch {
	case err != nil:
		return nil, 0, err
	case truncated:
		return nil, next, eventlog.ErrTruncated
	}
	return events, next, nil
}

// askMembers calls try on the members of the group as gossip shows it,
// the leader first, until one answers (try returns true) or ctx ends,
// looking again with a backoff (from 1 ms up to maxBackoff) after each
// round in which none did. Each try gets a share of ctx (tryContext).
// It returns nil once a try answered, else ErrClosed or ctx's error
// with the last failure.
func (s *Service) askMembers(ctx context.Context, maxBackoff time.Duration, try func(ctx context.Context, target string, group uint64) (bool, error)) error {
	backoff := time.Millisecond
	var last error = ErrNoGroup
	for {
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		v := s.currentView()
		targets := slices.Clone(v.members)
		if i := slices.Index(targets, v.leader); i > 0 {
			targets[0], targets[i] = targets[i], targets[0]
		}
		for _, target := range targets {
			tctx, cancel := tryContext(ctx)
			done, err := try(tctx, target, v.group)
			cancel()
			if done {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("voters: %s is not a member", target)
			}
			last = err
			if ctx.Err() != nil {
				break
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-s.ctx.Done():
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (s *Service) readFrom(ctx context.Context, target string, req readReq) (readResp, error) {
	if target == s.node.Name() {
		return s.serveRead(ctx, target, req)
	}
	var resp readResp
	err := s.node.Call(ctx, target, methodRead, req, &resp)
	return resp, err
}

// serveRead reads from this member's event log.
func (s *Service) serveRead(ctx context.Context, _ string, req readReq) (readResp, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil || req.Group != 0 && m.group != req.Group || stopped(m) {
		return readResp{NotMember: true}, nil
	}
	if req.Seek {
		off, ok := m.events.Seek(req.Topic, req.At)
		if !ok {
			off = 1
		}
		return readResp{Next: off}, nil
	}
	var timeout <-chan time.Time
	if req.Wait > 0 {
		t := time.NewTimer(min(req.Wait, maxWait))
		defer t.Stop()
		timeout = t.C
	}
	for {
		appended := m.events.Appended() // before the read: no append is missed
		events, next, err := m.events.Read(req.Topic, req.From, min(req.Max, maxRead))
		switch {
		case errors.Is(err, eventlog.ErrTruncated):
			return readResp{Next: next, Truncated: true}, nil
		case err != nil || len(events) > 0 || timeout == nil:
			return readResp{Events: events, Next: next}, err
		}
		select {
		case <-appended:
		case <-timeout:
			return readResp{Next: next}, nil
		case <-ctx.Done():
			return readResp{Next: next}, nil
		case <-m.g.Done():
			return readResp{NotMember: true}, nil
		}
	}
}

// stopped reports whether m's Raft group has stopped: its table no
// longer follows the log, and a reader must ask another member.
func stopped(m *member) bool {
	select {
	case <-m.g.Done():
		return true
	default:
		return false
	}
}

// maxRead bounds the events one read returns.
const maxRead = 1024
