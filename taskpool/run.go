package taskpool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
)

// Backoff between attempts: 10 ms doubling up to 1 s, jittered.
const (
	backoffMin = 10 * time.Millisecond
	backoffMax = time.Second
)

// maxRedispatch bounds how often one Run re-sends a task whose worker was
// lost, on top of Retries.
const maxRedispatch = 16

// loadFresh is how long a worker's reported load counts in placement.
const loadFresh = time.Second

// Run runs cmd and blocks until it has a result or a final error. With
// cmd.Func set, it runs Func on this node's pool and returns (nil, err).
// Otherwise it sends the task to a worker that registered cmd.Name (see
// the package doc for placement, retries and idempotency). ctx bounds the
// whole Run, retries included: Run returns by ctx's deadline (or as soon
// as ctx is canceled) with ctx's error wrapping the last attempt's (the
// last that ended before ctx did, if one did), and a ctx already done
// sends nothing. What the attempt in flight leaves
// behind goes on in the background until it ends, and Close waits for
// it: the cancellation sent to a remote worker, and a handler or Func
// running on this node until it returns (see Deadlines in the package
// doc for the bounds).
func (p *Pool) Run(ctx context.Context, cmd Command) ([]byte, error) {
	start := time.Now()
	p.submitted.Add(1)
	p.runsInFlight.Add(1)
	res, err := p.run(ctx, cmd)
	p.runsInFlight.Add(-1)
	p.runLatency.Since(start)
	if err != nil {
		p.runFailures.Add(1)
	}
	return res, err
}

func (p *Pool) run(ctx context.Context, cmd Command) ([]byte, error) {
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if ctx.Err() != nil {
		return nil, ended(ctx, cmd.Name, nil)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.ctx, func() { cancel(ErrClosed) })
	defer stop()
	if cmd.Func != nil {
		return nil, p.runLocal(ctx, cmd)
	}
	if err := validName(cmd.Name); err != nil {
		return nil, err
	}
	return p.runRemote(ctx, cmd)
}

// ended is Run's error once ctx ended: ctx's cause, wrapping the last
// attempt's error if there was one.
func ended(ctx context.Context, name string, last error) error {
	if last == nil {
		return errtext.Errorf("taskpool: ", "taskpool: %s: %w", name, context.Cause(ctx))
	}
	return errtext.Errorf("taskpool: ", "taskpool: %s: %w (last attempt: %w)", name, context.Cause(ctx), last)
}

// outcome classifies a failed attempt.
type outcome int

const (
	failed  outcome = iota // counts against Retries
	lost                   // the worker did not run it or was lost: redispatch
	busy                   // the worker was full: try another, then back off
	stopNow                // do not retry
)

func classify(err error) outcome {
	switch {
	case errors.Is(err, errClosing):
		return stopNow
	case errors.Is(err, ErrBusy), errors.Is(err, ErrClosed) && !errors.Is(err, cluster.ErrClosed):
		return busy
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrUnknownCommand), errors.Is(err, cluster.ErrUnknownMethod):
		return failed
	case errors.Is(err, cluster.ErrClosed), errors.Is(err, context.Canceled):
		return stopNow
	}
	var te *TaskError
	if errors.As(err, &te) {
		return failed
	}
	return lost // ErrConnLost, ErrUnknownNode, ErrNoWorker, dial errors
}

func (p *Pool) runRemote(ctx context.Context, cmd Command) ([]byte, error) {
	req := runReq{TaskID: p.newTaskID(), Name: cmd.Name, Payload: cmd.Payload, ID: cmd.ID, Tick: tickPtr(ctx)}
	timeout := p.attemptTimeout(cmd)
	var (
		tried            []string
		last             error
		fails, redispats int
		waits            int // backoffs so far
	)
	for {
		if ctx.Err() != nil { // never send an attempt that is already over
			return nil, ended(ctx, cmd.Name, last)
		}
		worker, err := p.pick(cmd, tried)
		if err != nil && req.Attempt == 0 && last == nil {
			return nil, err
		}
		if err == nil {
			req.Attempt++
			var res []byte
			res, err = p.attempt(ctx, worker, req, timeout)
			if err == nil {
				return res, nil
			}
			tried = append(tried, worker)
		}
		if ctx.Err() != nil {
			// An attempt that ctx cut short tells nothing new: the
			// error names the last one that ended on its own, if any.
			return nil, ended(ctx, cmd.Name, cmp.Or(last, err))
		}
		last = err
		switch classify(err) {
		case stopNow:
			return nil, err
		case failed:
			if fails++; fails > cmd.Retries {
				return nil, errtext.Errorf("taskpool: ", "taskpool: %s: %d attempts failed, last: %w", cmd.Name, req.Attempt, last)
			}
		case lost:
			if redispats++; redispats > maxRedispatch+cmd.Retries {
				return nil, errtext.Errorf("taskpool: ", "taskpool: %s: gave up after %d attempts, last: %w", cmd.Name, req.Attempt, last)
			}
		case busy:
			if p.untried(cmd, tried) {
				continue // try another worker at once
			}
			tried = tried[:0]
		}
		p.retried.Add(1)
		waits++
		if !p.sleep(ctx, backoff(waits)) {
			return nil, ended(ctx, cmd.Name, last)
		}
	}
}

func (p *Pool) attemptTimeout(cmd Command) time.Duration {
	if cmd.Timeout > 0 {
		return cmd.Timeout
	}
	return p.timeout
}

// errClosing is attempt's error when this Pool closed before the attempt
// could start.
var errClosing = fmt.Errorf("%w: attempt not started", ErrClosed)

// attempt sends one attempt to worker and returns its result, or an
// error as soon as ctx ends or the attempt's timeout passes. The call
// runs on a goroutine of the Pool, so that what it does after that (the
// cluster writes the cancellation to the worker, and a call to this
// node waits for its own handler) delays neither Run nor its caller.
func (p *Pool) attempt(ctx context.Context, worker string, req runReq, timeout time.Duration) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type reply struct {
		resp runResp
		err  error
	}
	replied := make(chan reply, 1)
	p.inflight(worker, 1)
	if !p.spawn(func() {
		defer p.inflight(worker, -1)
		var r reply
		r.err = p.node.Call(actx, worker, methodRun, req, &r.resp)
		if r.err == nil {
			p.noteLoad(worker, r.resp.Load, r.resp.Size)
		}
		replied <- r
	}) {
		p.inflight(worker, -1)
		return nil, errClosing
	}
	var r reply
	select {
	case r = <-replied:
	case <-actx.Done():
		select {
		case r = <-replied: // it answered at the same instant
		default:
			r.err = actx.Err()
		}
	}
	if r.err != nil {
		if ctx.Err() == nil && actx.Err() != nil {
			return nil, errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w after %v", req.Name, worker, ErrTimeout, timeout)
		}
		return nil, errtext.Errorf("taskpool: ", "taskpool: %s on %s: %w", req.Name, worker, r.err)
	}
	return r.resp.Result, codeErr(worker, req.Name, r.resp.Code, r.resp.Message)
}

// workers returns the alive members that advertise name, sorted; the
// caller must not modify the slice. It is derived again only when the
// member list may have changed (cluster.Node.MembersVersion): Members
// copies every member's tags, and read for every task it cost about a
// twentieth of the CPU of a remote no-op task on three nodes.
func (p *Pool) workers(name string) []string {
	version := p.node.MembersVersion()
	p.wmu.Lock()
	if p.wversion != version || p.wcache == nil {
		p.wversion, p.wcache = version, map[string][]string{}
	}
	out, ok := p.wcache[name]
	p.wmu.Unlock()
	if ok {
		return out
	}
	for _, m := range p.node.Members() {
		if hasCommand(m.Tags[tagCommands], name) {
			out = append(out, m.Name)
		}
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.wversion == version && len(p.wcache) < maxCachedCommands {
		p.wcache[name] = out
	}
	return out
}

// maxCachedCommands bounds the commands whose workers are cached at one
// member list version.
const maxCachedCommands = 1024

func hasCommand(tag, name string) bool {
	for tag != "" {
		var s string
		s, tag, _ = strings.Cut(tag, ",")
		if s == name {
			return true
		}
	}
	return false
}

// untried reports whether a worker for cmd is left that was not tried.
func (p *Pool) untried(cmd Command, tried []string) bool {
	for _, w := range p.workers(cmd.Name) {
		if !contains(tried, w) {
			return true
		}
	}
	return false
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pick chooses a worker for cmd, avoiding those tried if it can: the
// first on the hash ring for an idempotency id, else the less loaded of
// two random workers.
func (p *Pool) pick(cmd Command, tried []string) (string, error) {
	all := p.workers(cmd.Name)
	if len(all) == 0 {
		return "", errtext.Errorf("taskpool: ", "taskpool: %s: %w", cmd.Name, ErrNoWorker)
	}
	if cmd.ID != "" {
		owners := p.ring.Ring(all).Owners(cmd.ID, len(all))
		for _, w := range owners {
			if !contains(tried, w) {
				return w, nil
			}
		}
		return owners[0], nil
	}
	cands := make([]string, 0, len(all))
	for _, w := range all {
		if !contains(tried, w) {
			cands = append(cands, w)
		}
	}
	if len(cands) == 0 {
		cands = all
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	if p.lessLoaded(cands[j], cands[i]) {
		return cands[j], nil
	}
	return cands[i], nil
}

// lessLoaded reports whether a is strictly less loaded than b, relative
// to their pool sizes, in this node's view.
func (p *Pool) lessLoaded(a, b string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	la, sa := p.scoreLocked(a)
	lb, sb := p.scoreLocked(b)
	return la*sb < lb*sa
}

func (p *Pool) scoreLocked(w string) (load, size int) {
	v := p.mu.views[w]
	if v == nil {
		return 0, 1
	}
	load, size = v.inflight, max(v.size, 1)
	if !v.at.IsZero() && time.Since(v.at) < loadFresh {
		load += v.load
	}
	return load, size
}

func (p *Pool) inflight(w string, d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.mu.views[w]
	if v == nil {
		v = &workerView{}
		p.mu.views[w] = v
	}
	v.inflight += d
}

func (p *Pool) noteLoad(w string, load, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.mu.views[w]; v != nil {
		v.load, v.size, v.at = load, size, time.Now()
	}
}

// backoff returns the jittered wait before the n-th retry (n >= 1).
func backoff(n int) time.Duration {
	d := backoffMin << min(n-1, 10)
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d on the node's clock or until ctx ends; it reports
// whether d passed.
func (p *Pool) sleep(ctx context.Context, d time.Duration) bool {
	t := p.node.Clock().NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
