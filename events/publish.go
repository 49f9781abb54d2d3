package events

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/internal/eventlog"
)

// Publishes that come while one of the Stream's requests to the voters
// is in flight wait, and go together in the next one (group commit): one
// round to the voters' leader and one entry of the log for all of them,
// each with its own result. A Publish that finds nothing in flight goes
// at once, so batching adds no wait when there is no load; under load a
// request carries what arrived during the one before it.
//
// A request's deadline is the earliest of its callers': when it passes,
// the callers still waiting go again in the next request (their
// commands carry keys, so a command the voters applied the first time
// is not appended twice), so a caller with a long deadline, or none, is
// not held to a short one's, and a short one is not held up by a request
// sent for a long one.
const (
	maxBatchCmds  = 128       // commands in one request
	maxBatchBytes = 256 << 10 // their payloads and metadata (a larger event goes alone)
	// noDeadline is the deadline of a request whose callers gave none;
	// they go again after it.
	noDeadline = 30 * time.Second
)

// batcher queues a Stream's Publish commands for its sender.
type batcher struct {
	mu      sync.Mutex
	queue   []*pending
	sending bool           // a sender goroutine runs
	wg      sync.WaitGroup // the sender, for Close
}

// pending is one Publish waiting for its result.
type pending struct {
	cmd      eventlog.Cmd
	size     int
	deadline time.Time       // zero: none
	ctx      context.Context // the caller's: a command whose caller gave up is not sent
	done     chan published  // capacity 1
}

type published struct {
	res eventlog.Result
	err error
}

// publish sends cmd with the other Publishes of the Stream and returns
// its result, or ctx's error (the command may then still be sent).
func (s *Stream) publish(ctx context.Context, cmd eventlog.Cmd) (eventlog.Result, error) {
	p := &pending{cmd: cmd, ctx: ctx, done: make(chan published, 1)}
	for _, e := range cmd.Events {
		p.size += len(e.Payload) + len(e.Key)
		for k, v := range e.Metadata {
			p.size += len(k) + len(v)
		}
	}
	p.deadline, _ = ctx.Deadline()
	b := &s.batch
	b.mu.Lock()
	if s.ctx.Err() != nil {
		b.mu.Unlock()
		return eventlog.Result{}, ErrClosed
	}
	b.queue = append(b.queue, p)
	if !b.sending {
		b.sending = true
		b.wg.Go(func() { s.send() })
	}
	b.mu.Unlock()
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		return eventlog.Result{}, ctx.Err()
	}
}

// send sends the queued commands, a batch a request, until none is left.
func (s *Stream) send() {
	b := &s.batch
	for {
		b.mu.Lock()
		batch := b.take()
		if len(batch) == 0 {
			b.sending = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		cmds := make([]eventlog.Cmd, len(batch))
		earliest := time.Now().Add(noDeadline)
		for i, p := range batch {
			cmds[i] = p.cmd
			if !p.deadline.IsZero() && p.deadline.Before(earliest) {
				earliest = p.deadline
			}
		}
		ctx, cancel := context.WithDeadline(s.ctx, earliest)
		res, err := s.svc.DoEvents(ctx, cmds)
		expired := err != nil && ctx.Err() != nil && s.ctx.Err() == nil
		cancel()
		if expired {
			batch = b.again(batch, err)
		}
		if err == nil && len(res) != len(cmds) {
			err = errBatchAnswer
		}
		for i, p := range batch {
			r := published{err: err}
			if err == nil {
				r.res = res[i]
			}
			p.done <- r
		}
	}
}

// take removes the next batch from the queue: commands in order, up to
// the bounds, those whose callers gave up left out. Called with mu held.
func (b *batcher) take() []*pending {
	var batch []*pending
	size, n := 0, 0
	for _, p := range b.queue {
		if p.ctx.Err() != nil {
			n++
			continue
		}
		if len(batch) == maxBatchCmds || len(batch) > 0 && size+p.size > maxBatchBytes {
			break
		}
		batch = append(batch, p)
		size += p.size
		n++
	}
	clear(b.queue[:n]) // let go of the sent ones' payloads
	b.queue = b.queue[n:]
	return batch
}

// again puts the callers of a request whose deadline passed that are
// still waiting back at the head of the queue, and returns the others,
// to be given err.
func (b *batcher) again(batch []*pending, err error) []*pending {
	var waiting, done []*pending
	for _, p := range batch {
		if p.ctx.Err() == nil {
			waiting = append(waiting, p)
		} else {
			done = append(done, p)
		}
	}
	b.mu.Lock()
	b.queue = append(waiting, b.queue...)
	b.mu.Unlock()
	return done
}
