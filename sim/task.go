package sim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/taskpool"
)

// TaskOptions configures a task workload. The zero value of each field
// means its documented default.
type TaskOptions struct {
	// Submitters is how many submitters loop on each node. Default 2.
	Submitters int
	// Pool is every Pool's size (taskpool.Concurrency). Default 8.
	Pool int
	// Deadline bounds every Run (its ctx). Default 3 s.
	Deadline time.Duration
	// Timeout is every attempt's timeout (Command.Timeout). Default 1 s.
	Timeout time.Duration
	// Retries is every Command's Retries. Default 2.
	Retries int
	// MaxWork bounds how long the "work" handler sleeps: uniformly from
	// 1 ms to MaxWork, drawn from the seed and the task. Default 20 ms.
	MaxWork time.Duration
	// MaxGap bounds the pause of a submitter between two Runs: uniformly
	// from 0 to MaxGap. Default 10 ms.
	MaxGap time.Duration
	// Shared is the fraction of tasks that carry an idempotency id shared
	// across submitters: "idem-<window>-<k>", with k one of SharedIDs and
	// window the current 200 ms of Unix time, so that submitters on
	// different nodes Run one id at once (T2). Default 0.3; negative
	// means none. The other tasks carry no idempotency id.
	Shared float64
	// SharedIDs is how many shared ids a window has. Default 3.
	SharedIDs int
	// Tick is the period of the leader-only schedule "tick" every node
	// runs; negative means no schedule. Default 500 ms.
	Tick time.Duration
	// Seed seeds the submitters' choices and the handler's work times.
	Seed int64
}

func (o *TaskOptions) defaults() {
	o.Submitters = cmpOr(o.Submitters, 2)
	o.Pool = cmpOr(o.Pool, 8)
	o.Deadline = cmpOr(o.Deadline, 3*time.Second)
	o.Timeout = cmpOr(o.Timeout, time.Second)
	o.Retries = cmpOr(o.Retries, 2)
	o.MaxWork = cmpOr(o.MaxWork, 20*time.Millisecond)
	o.MaxGap = cmpOr(o.MaxGap, 10*time.Millisecond)
	o.Shared = cmpOr(o.Shared, 0.3)
	o.SharedIDs = cmpOr(o.SharedIDs, 3)
	o.Tick = cmpOr(o.Tick, 500*time.Millisecond)
}

// sharedWindow is how long one set of shared idempotency ids is used.
const sharedWindow = 200 * time.Millisecond

// TaskWorkload runs a taskpool.Pool on every node of a Cluster with a
// command "work", submitters that Run it in a loop, and a leader-only
// schedule "tick"; it records every submission, execution and tick.
// Restarted nodes get a new Pool and submitters. Safe for concurrent use.
type TaskWorkload struct {
	c     *Cluster
	opt   TaskOptions
	begin time.Time

	closing sync.WaitGroup // Pools of crashed nodes still closing

	mu       sync.Mutex // protects the fields below
	subs     []check.Submission
	open     map[int]bool // indexes of submissions not returned
	execs    []check.Execution
	ticks    []check.TickRun
	crashes  []time.Time
	running  map[string]*taskNode
	starts   map[string]int
	failures []string
	closed   bool
	ended    time.Time
}

type taskNode struct {
	p           *taskpool.Pool
	incarnation int
	cancel      context.CancelFunc // stops the submitters' loops, cancels their Runs
	stop        context.CancelFunc // stops the loops only
	cancelSched func()
	dead        bool // crashed or left; protected by TaskWorkload.mu
	wg          sync.WaitGroup
}

// StartTasks starts a Pool, its "work" command, opts.Submitters
// submitters and the schedule on every alive node of c, and follows
// crashes and restarts.
func StartTasks(c *Cluster, opts TaskOptions) (*TaskWorkload, error) {
	opts.defaults()
	w := &TaskWorkload{c: c, opt: opts, begin: time.Now(), open: map[int]bool{},
		running: map[string]*taskNode{}, starts: map[string]int{}}
	if err := startWorkload(c, w.start, w.Close, w.fail, Hooks{OnCrash: w.crashed}); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *TaskWorkload) start(n *cluster.Node) error {
	p, err := taskpool.New(n, taskpool.Concurrency(w.opt.Pool), taskpool.Timeout(w.opt.Timeout))
	if err != nil {
		return fmt.Errorf("sim: task pool on %s: %w", n.Name(), err)
	}
	name := n.Name()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return p.Close()
	}
	w.starts[name]++
	inc := w.starts[name]
	w.mu.Unlock()
	err = p.Register("work", w.handler(name, inc))
	if err != nil {
		p.Close()
		return fmt.Errorf("sim: register work on %s: %w", name, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	loopCtx, stop := context.WithCancel(runCtx)
	tn := &taskNode{p: p, incarnation: inc, cancel: cancel, stop: stop, cancelSched: func() {}}
	if w.opt.Tick > 0 {
		cancelSched, err := p.Schedule("tick", w.opt.Tick, taskpool.Command{Name: "tick", Func: func() error {
			now := time.Now()
			w.mu.Lock()
			defer w.mu.Unlock()
			// A crashed node's Pool closes in the background: what its
			// schedule still does meanwhile a dead process would not.
			if !tn.dead {
				w.ticks = append(w.ticks, check.TickRun{Tick: now.UnixNano() / int64(w.opt.Tick), Node: name, Incarnation: inc, At: now})
			}
			return nil
		}})
		if err != nil {
			cancel()
			p.Close()
			return fmt.Errorf("sim: schedule on %s: %w", name, err)
		}
		tn.cancelSched = cancelSched
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		cancel()
		tn.cancelSched()
		return p.Close()
	}
	w.running[name] = tn
	w.mu.Unlock()
	for i := range w.opt.Submitters {
		rng := rand.New(rand.NewPCG(uint64(w.opt.Seed), seedOf(name, inc, i)))
		tn.wg.Go(func() { w.submitter(loopCtx, runCtx, name, inc, i, p, rng) })
	}
	return nil
}

// payload is what a "work" task carries: its task and idempotency ids.
func payload(task, idem string) []byte { return []byte(task + "|" + idem) }

func parsePayload(b []byte) (task, idem string) {
	task, idem, _ = strings.Cut(string(b), "|")
	return task, idem
}

// handler records each execution and sleeps a seeded short time.
func (w *TaskWorkload) handler(node string, inc int) taskpool.Handler {
	return func(ctx context.Context, b []byte) ([]byte, error) {
		task, idem := parsePayload(b)
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", w.opt.Seed, task)
		d := time.Millisecond + time.Duration(h.Sum64()%uint64(w.opt.MaxWork))
		w.mu.Lock()
		w.execs = append(w.execs, check.Execution{Task: task, Idem: idem, Node: node, Incarnation: inc, Start: time.Now()})
		i := len(w.execs) - 1
		w.mu.Unlock()
		sleepCtx(ctx, d)
		w.mu.Lock()
		w.execs[i].End = time.Now()
		w.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return []byte("done:" + task), nil
	}
}

// submitter Runs tasks until loop ends; each Run has ctx run (canceled
// when the node crashes) with the Deadline.
func (w *TaskWorkload) submitter(loop, run context.Context, node string, inc, k int, p *taskpool.Pool, rng *rand.Rand) {
	for seq := 0; loop.Err() == nil; seq++ {
		task := fmt.Sprintf("t-%s.%d.%d.%d", node, inc, k, seq)
		idem := ""
		if w.opt.Shared > 0 && rng.Float64() < w.opt.Shared {
			idem = fmt.Sprintf("idem-%d-%d", time.Now().UnixNano()/int64(sharedWindow), rng.IntN(w.opt.SharedIDs))
		}
		ctx, cancel := context.WithTimeout(run, w.opt.Deadline)
		dl, _ := ctx.Deadline()
		i := w.submitted(check.Submission{Task: task, Idem: idem, Submitter: node, Incarnation: inc, Called: time.Now(), Deadline: dl})
		var noticed atomic.Int64
		stop := context.AfterFunc(ctx, func() { noticed.Store(time.Now().UnixNano()) })
		res, err := p.Run(ctx, taskpool.Command{Name: "work", Payload: payload(task, idem), ID: idem, Timeout: w.opt.Timeout, Retries: w.opt.Retries})
		returned := time.Now()
		if stop() { // the deadline had not come: nothing noticed it
			noticed.Store(0)
		}
		cancel()
		w.returned(i, returned, noticed.Load(), res, err)
		sleepCtx(loop, time.Duration(rng.Int64N(int64(w.opt.MaxGap)+1)))
	}
}

func (w *TaskWorkload) submitted(s check.Submission) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, s)
	i := len(w.subs) - 1
	w.open[i] = true
	return i
}

func (w *TaskWorkload) returned(i int, at time.Time, noticed int64, res []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &w.subs[i]
	s.Returned = at
	if noticed != 0 && noticed <= at.UnixNano() {
		s.Noticed = time.Unix(0, noticed)
	}
	delete(w.open, i)
	if err != nil {
		s.Err, s.ErrKind = err.Error(), TaskErrKind(err)
		return
	}
	s.Result = string(res)
}

// TaskErrKind classifies a Run error for the reports.
func TaskErrKind(err error) string {
	var te *taskpool.TaskError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return "handler"
	case errors.Is(err, taskpool.ErrNoWorker):
		return "no worker"
	case errors.Is(err, taskpool.ErrTimeout):
		return "attempt timeout"
	case errors.Is(err, taskpool.ErrBusy):
		return "busy"
	case errors.Is(err, taskpool.ErrUnknownCommand):
		return "unknown command"
	case errors.Is(err, taskpool.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

func (w *TaskWorkload) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, err.Error())
}

// crashed marks the Runs in flight on a crashed (or departed) node as
// their submitter's death, stops its submitters and closes its Pool in
// the background.
func (w *TaskWorkload) crashed(name string) {
	w.mu.Lock()
	tn := w.running[name]
	delete(w.running, name)
	w.crashes = append(w.crashes, time.Now())
	if tn != nil {
		tn.dead = true
		for i := range w.open {
			if s := &w.subs[i]; s.Submitter == name && s.Incarnation == tn.incarnation {
				s.SubmitterDied = true
			}
		}
	}
	w.mu.Unlock()
	if tn == nil {
		return
	}
	tn.cancel()
	tn.wg.Wait()
	w.closing.Go(func() {
		tn.cancelSched()
		tn.p.Close()
	})
}

// History returns a copy of what was recorded so far.
func (w *TaskWorkload) History() check.TaskHistory {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.ended
	if end.IsZero() {
		end = time.Now()
	}
	tick := w.opt.Tick
	if tick < 0 {
		tick = 0
	}
	return check.TaskHistory{Submissions: slices.Clone(w.subs), Executions: slices.Clone(w.execs), Ticks: slices.Clone(w.ticks),
		Tick: tick, Crashes: slices.Clone(w.crashes), Failures: slices.Clone(w.failures), Begin: w.begin, End: end}
}

// Close stops submitting, lets the Runs in flight end (each is bounded
// by its deadline; Close waits at most Deadline + 2 s for them, so a Run
// that never returns stays open in the history: lost, for T1), then
// stops the schedules and closes the Pools.
func (w *TaskWorkload) Close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	running := w.running
	w.running = map[string]*taskNode{}
	w.mu.Unlock()
	for _, tn := range running {
		tn.stop()
	}
	done := make(chan struct{})
	go func() {
		for _, tn := range running {
			tn.wg.Wait()
		}
		close(done)
	}()
	t := time.NewTimer(w.opt.Deadline + 2*time.Second)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	w.mu.Lock()
	w.ended = time.Now()
	w.mu.Unlock()
	for _, tn := range running {
		tn.cancel()
		tn.cancelSched()
	}
	<-done
	for _, tn := range running {
		tn.p.Close()
	}
	w.closing.Wait()
}
