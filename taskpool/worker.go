package taskpool

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// runReq asks a worker to run one attempt of a task.
type runReq struct {
	TaskID  string
	Name    string
	Payload []byte
	ID      string // idempotency id, "" for none
	Attempt int
	Tick    *Tick `msgpack:",omitempty"` // the schedule's tick, for a scheduled run (TickOf)
}

// runResp is a worker's answer; it always carries the worker's load.
type runResp struct {
	Result  []byte
	Code    string // codeOK or a failure code
	Message string // the failure's text
	Load    int    // running + queued on the worker after this task
	Size    int    // the worker's pool size
}

// flight is one execution of an idempotency id that concurrent requests
// share.
type flight struct {
	done chan struct{} // closed when resp is set
	resp runResp
}

// serveRun is the worker side of methodRun.
func (p *Pool) serveRun(ctx context.Context, from string, req runReq) (runResp, error) {
	if req.Tick != nil {
		ctx = withTick(ctx, *req.Tick)
	}
	p.mu.Lock()
	h, ok := p.mu.handlers[req.Name]
	switch {
	case p.mu.closed:
		p.mu.Unlock()
		return p.reply(runResp{Code: codeClosed}), nil
	case !ok:
		p.mu.Unlock()
		return p.reply(runResp{Code: codeUnknown}), nil
	case req.ID == "":
		p.mu.Unlock()
		return p.reply(p.execute(ctx, req.Name, h, req.Payload)), nil
	}
	key := req.Name + "\x00" + req.ID // an id is scoped to its command
	f, shared := p.mu.flights[key]
	if !shared {
		f = &flight{done: make(chan struct{})}
		p.mu.flights[key] = f
	}
	p.mu.Unlock()
	if shared {
		select {
		case <-f.done:
			return p.reply(f.resp), nil
		case <-ctx.Done():
			return p.reply(runResp{Code: codeTimeout, Message: ctx.Err().Error()}), nil
		}
	}
	f.resp = p.execute(ctx, req.Name, h, req.Payload)
	p.mu.Lock()
	delete(p.mu.flights, key)
	p.mu.Unlock()
	close(f.done)
	return p.reply(f.resp), nil
}

// reply stamps r with this node's load.
func (p *Pool) reply(r runResp) runResp {
	r.Load, r.Size = int(p.load.Load()), p.size
	return r
}

// execute admits one task (or refuses it when the queue is full), waits
// for a slot and runs h.
func (p *Pool) execute(ctx context.Context, name string, h Handler, payload []byte) runResp {
	if p.load.Add(1) > int64(5*p.size) {
		p.load.Add(-1)
		return runResp{Code: codeBusy}
	}
	defer p.load.Add(-1)
	if !p.acquire(ctx) {
		if ctx.Err() == nil {
			return runResp{Code: codeClosed}
		}
		return runResp{Code: codeTimeout, Message: "waiting for a slot: " + ctx.Err().Error()}
	}
	defer p.release()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.hard, cancel)
	defer stop()
	res, err := p.call(name, func() ([]byte, error) { return h(hctx, payload) })
	switch {
	case err == nil:
		p.done.Add(1)
		return runResp{Result: res}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		p.failed.Add(1)
		return runResp{Code: codeTimeout, Message: err.Error()}
	}
	p.failed.Add(1)
	return runResp{Code: codeFailed, Message: err.Error()}
}

// acquire waits for a slot; it counts the task as an execution Close
// waits for. It returns false if ctx ended or the Pool closed first.
func (p *Pool) acquire(ctx context.Context) bool {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return false
	}
	p.execs.Add(1)
	p.mu.Unlock()
	select {
	case p.sem <- struct{}{}:
		p.running.Add(1)
		return true
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	p.execs.Done()
	return false
}

func (p *Pool) release() {
	p.running.Add(-1)
	<-p.sem
	p.execs.Done()
}

// call runs f, turning a panic into an error.
func (p *Pool) call(name string, f func() ([]byte, error)) (res []byte, err error) {
	start := time.Now()
	defer func() {
		p.execTime.Since(start)
		if r := recover(); r != nil {
			p.log.Error("task panicked", "command", name, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}
