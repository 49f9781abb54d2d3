package taskpool

import (
	"context"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/internal/errtext"
)

// tickReq tells a member that a schedule's tick ran.
type tickReq struct {
	Schedule string
	Tick     int64
	Term     uint64
}

// lastTickReq asks a member for the highest tick of a schedule it knows
// ran.
type lastTickReq struct{ Schedule string }

type lastTickResp struct{ Tick int64 }

func (p *Pool) serveTickDone(_ context.Context, _ string, r tickReq) (struct{}, error) {
	p.noteTick(r.Schedule, r.Tick)
	return struct{}{}, nil
}

func (p *Pool) serveLastTick(_ context.Context, _ string, r lastTickReq) (lastTickResp, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return lastTickResp{Tick: p.mu.ticks[r.Schedule]}, nil
}

func (p *Pool) noteTick(schedule string, tick int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.ticks[schedule] = max(p.mu.ticks[schedule], tick)
}

// Schedule runs cmd once per tick of every on the leader of the election
// group "taskpool.schedule."+name, among the nodes that called Schedule
// with that name. A registered command's handler reads the tick and the
// leader's term with TickOf, to fence what it does. Tick k is the interval [k×every, (k+1)×every) of Unix
// time; it runs at its start, or as soon as a leader takes over. See the
// package doc for what a leader change does. cancel stops campaigning
// and ticking on this node: it cancels a run in progress and waits for
// its Run to return (at once; the handler may go on, see Deadlines in the
// package doc), for the resignation (at most 1 s) and for the elector to
// close. It fails at once, starting nothing, for an empty name, an every
// not above zero, a cmd without Func whose Name is not a valid command
// name, or a closed Pool (ErrClosed).
func (p *Pool) Schedule(name string, every time.Duration, cmd Command) (cancel func(), err error) {
	if name == "" || every <= 0 {
		return nil, fmt.Errorf("taskpool: Schedule(%q, %v): want a name and a positive interval", name, every)
	}
	if cmd.Func == nil {
		if err := validName(cmd.Name); err != nil {
			return nil, errtext.Errorf("taskpool: ", "taskpool: Schedule(%q): %w", name, err)
		}
	}
	e, err := election.New(p.node, election.Group("taskpool.schedule."+name))
	if err != nil {
		return nil, errtext.Errorf("taskpool: ", "taskpool: Schedule(%q): %w", name, err)
	}
	ctx, stop := context.WithCancel(p.ctx)
	done := make(chan struct{})
	if !p.spawn(func() {
		defer close(done)
		defer e.Close()
		p.campaign(ctx, e, name, every, cmd)
	}) {
		stop()
		e.Close()
		return nil, ErrClosed
	}
	return func() {
		stop()
		<-done
	}, nil
}

// campaign runs for leadership until ctx ends, and leads when elected.
func (p *Pool) campaign(ctx context.Context, e *election.Elector, name string, every time.Duration, cmd Command) {
	for ctx.Err() == nil {
		el, err := e.Elect(ctx, p.node.Name())
		if err != nil {
			if !p.sleep(ctx, 100*time.Millisecond) {
				return
			}
			continue
		}
		p.lead(ctx, el, name, every, cmd)
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		el.Resign(rctx)
		cancel()
	}
}

// lead runs ticks while el holds the lease.
func (p *Pool) lead(ctx context.Context, el *election.Elected, name string, every time.Duration, cmd Command) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	go func() { // bounded by lctx
		select {
		case <-el.Revoked():
			cancel()
		case <-lctx.Done():
		}
	}()
	last, ok := p.lastDone(lctx, name, every)
	if !ok {
		return
	}
	// Ticks are counted on this node's clock, from the Unix epoch, so
	// that they fall at the same wall times on every node, give or take
	// the offsets of their clocks.
	clk := p.node.Clock()
	next := max(last+1, tickOf(clk.Now(), every))
	for {
		if !p.sleep(lctx, time.Unix(0, 0).Add(time.Duration(next)*every).Sub(clk.Now())) {
			return
		}
		// Revoked can close late after a freeze of this process
		// (election's doc): ask the lease itself before the tick runs.
		if !el.Valid() {
			return
		}
		p.log.Debug("schedule: tick", "schedule", name, "tick", next, "term", el.Term())
		tick := Tick{Schedule: name, N: next, Term: el.Term()}
		if _, err := p.Run(withTick(lctx, tick), cmd); err != nil && lctx.Err() == nil {
			p.log.Warn("schedule: run failed", "schedule", name, "tick", next, "err", err)
		}
		if lctx.Err() != nil {
			// Revoked or canceled during the run: it may or may not
			// have completed; the next leader may run this tick again.
			return
		}
		p.tellDone(lctx, name, next, el.Term(), every)
		next = max(next+1, tickOf(clk.Now(), every))
	}
}

func tickOf(t time.Time, every time.Duration) int64 {
	return t.UnixNano() / int64(every)
}

// lastDone asks the members for the highest tick of name known done,
// until a majority of the quorum basis answered.
func (p *Pool) lastDone(ctx context.Context, name string, every time.Duration) (int64, bool) {
	timeout := min(max(every, 100*time.Millisecond), time.Second)
	for {
		answers, best := 0, int64(0)
		cctx, cancel := context.WithTimeout(ctx, timeout)
		for _, r := range cluster.CallAll[lastTickResp](cctx, p.node, nil, methodLastTick, lastTickReq{Schedule: name}) {
			if r.Err == nil {
				answers++
				best = max(best, r.Resp.Tick)
			}
		}
		cancel()
		if answers >= p.node.QuorumSize() {
			p.noteTick(name, best)
			return best, true
		}
		if !p.sleep(ctx, 100*time.Millisecond) {
			return 0, false
		}
	}
}

// tellDone tells every member that tick ran, waiting for their answers a
// bounded time; best effort.
func (p *Pool) tellDone(ctx context.Context, name string, tick int64, term uint64, every time.Duration) {
	p.noteTick(name, tick)
	timeout := min(max(every/2, 50*time.Millisecond), time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cluster.CallAll[struct{}](ctx, p.node, nil, methodTickDone, tickReq{Schedule: name, Tick: tick, Term: term})
}
