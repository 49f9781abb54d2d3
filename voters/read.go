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

// readReq asks a member for up to Max events of Topic from offset From.
type readReq struct {
	Group uint64 `msgpack:"g"`
	Topic string `msgpack:"t"`
	From  uint64 `msgpack:"f"`
	Max   int    `msgpack:"m"`
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
	backoff := time.Millisecond
	var last error = ErrNoGroup
	for {
		if s.ctx.Err() != nil {
			return nil, 0, ErrClosed
		}
		v := s.currentView()
		targets := slices.Clone(v.members)
		if i := slices.Index(targets, v.leader); i > 0 {
			targets[0], targets[i] = targets[i], targets[0]
		}
		for _, target := range targets {
			tctx, cancel := tryContext(ctx)
			resp, err := s.readFrom(tctx, target, readReq{Group: v.group, Topic: topic, From: from, Max: max})
			cancel()
			switch {
			case err == nil && resp.Truncated:
				return nil, resp.Next, eventlog.ErrTruncated
			case err == nil && !resp.NotMember:
				return resp.Events, resp.Next, nil
			case err == nil:
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
			return nil, 0, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-s.ctx.Done():
			t.Stop()
			return nil, 0, ErrClosed
		}
		backoff = min(2*backoff, 50*time.Millisecond)
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
func (s *Service) serveRead(_ context.Context, _ string, req readReq) (readResp, error) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil || req.Group != 0 && m.group != req.Group {
		return readResp{NotMember: true}, nil
	}
	events, next, err := m.events.Read(req.Topic, req.From, min(req.Max, maxRead))
	if errors.Is(err, eventlog.ErrTruncated) {
		return readResp{Next: next, Truncated: true}, nil
	}
	return readResp{Events: events, Next: next}, err
}

// maxRead bounds the events one read returns.
const maxRead = 1024
