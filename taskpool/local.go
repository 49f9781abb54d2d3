package taskpool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// runLocal runs cmd.Func on this node's pool, retrying a failure up to
// cmd.Retries times. An attempt that outlives its timeout or ctx keeps its
// slot until Func returns (Func cannot be canceled), but Run returns.
func (p *Pool) runLocal(ctx context.Context, cmd Command) error {
	timeout := p.attemptTimeout(cmd)
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.retried.Add(1)
			if !p.sleep(ctx, backoff(attempt)) || ctx.Err() != nil {
				return ended(ctx, cmd.Name, last)
			}
		}
		last = p.localAttempt(ctx, cmd, timeout)
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ended(ctx, cmd.Name, last)
		}
		if attempt >= cmd.Retries {
			return errtext.Errorf("taskpool: ", "taskpool: %s: %d attempts failed, last: %w", cmd.Name, attempt+1, last)
		}
	}
}

func (p *Pool) localAttempt(ctx context.Context, cmd Command, timeout time.Duration) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p.load.Add(1)
	if !p.acquire(actx) {
		p.load.Add(-1)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if actx.Err() != nil {
			return fmt.Errorf("%w: waiting for a slot", ErrTimeout)
		}
		return ErrClosed
	}
	done := make(chan error, 1)
	go func() {
		defer p.load.Add(-1)
		defer p.release()
		_, err := p.call(cmd.Name, func() ([]byte, error) { return nil, cmd.Func() })
		if err != nil {
			p.failed.Add(1)
		} else {
			p.done.Add(1)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-actx.Done():
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w after %v (Func still running)", ErrTimeout, timeout)
	}
}

// result is the outcome of a submitted task.
type result struct {
	done    chan struct{} // closed when res and err are set
	res     []byte
	err     error
	expires time.Time // set when done
}

// Submit starts cmd in the background and returns its task id; Wait(ctx,
// id) gives the result. It does not wait for the network: it returns at
// once, with ctx's error if ctx is already done. ctx bounds only the
// submission: the task runs under the Pool's own context, which Close
// cancels, and cmd.Timeout and cmd.Retries bound it. A result nobody
// waits for is dropped 10 minutes after the task ends.
func (p *Pool) Submit(ctx context.Context, cmd Command) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if cmd.Func == nil {
		if err := validName(cmd.Name); err != nil {
			return "", err
		}
	}
	id := p.newTaskID()
	r := &result{done: make(chan struct{})}
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return "", ErrClosed
	}
	p.sweepLocked(time.Now())
	p.mu.results[id] = r
	p.wg.Go(func() {
		r.res, r.err = p.Run(p.ctx, cmd)
		p.mu.Lock()
		r.expires = time.Now().Add(resultTTL)
		p.mu.Unlock()
		close(r.done)
	})
	p.mu.Unlock()
	return id, nil
}

// Wait blocks until the task id that Submit returned ends and returns its
// result, once: the id is then forgotten. It returns ErrUnknownTask for
// an id it does not hold, and ctx's error by ctx's deadline if the task
// has not ended by then: the task goes on in the background, until it
// ends or Close cancels it, and the id can be waited for again.
func (p *Pool) Wait(ctx context.Context, id string) ([]byte, error) {
	p.mu.Lock()
	r := p.mu.results[id]
	p.mu.Unlock()
	if r == nil {
		return nil, errtext.Errorf("taskpool: ", "taskpool: Wait(%q): %w", id, ErrUnknownTask)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	_, mine := p.mu.results[id]
	delete(p.mu.results, id)
	p.mu.Unlock()
	if !mine {
		return nil, errtext.Errorf("taskpool: ", "taskpool: Wait(%q): %w", id, ErrUnknownTask)
	}
	if errors.Is(r.err, context.Canceled) && p.ctx.Err() != nil {
		return r.res, errtext.Errorf("taskpool: ", "taskpool: task %s: %w", id, ErrClosed)
	}
	return r.res, r.err
}

// sweepLocked drops expired results, at most once a minute.
func (p *Pool) sweepLocked(now time.Time) {
	if now.Before(p.mu.sweep) {
		return
	}
	p.mu.sweep = now.Add(time.Minute)
	for id, r := range p.mu.results {
		if !r.expires.IsZero() && now.After(r.expires) {
			delete(p.mu.results, id)
		}
	}
}
