package taskpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/hashring"
	"github.com/gossipsync/gossipsync/internal/stats"
)

// tagCommands is the member tag that lists a node's commands, sorted and
// comma-joined.
const tagCommands = "_tp"

// RPC methods served by every Pool.
const (
	methodRun      = "taskpool.run"
	methodTickDone = "taskpool.tickdone"
	methodLastTick = "taskpool.lasttick"
)

// maxNameLen bounds a command name.
const maxNameLen = 64

// resultTTL is how long Submit keeps a result nobody waited for.
const resultTTL = 10 * time.Minute

// Handler runs one task: payload in, result out. ctx ends when the
// attempt's timeout passes, the submitter gives up, or the Pool closes
// after its grace period. A returned error (or a panic) fails the attempt,
// which the submitter may retry elsewhere.
type Handler func(ctx context.Context, payload []byte) ([]byte, error)

// Command is one task to run.
type Command struct {
	Name    string        // the registered command to run (a label when Func is set)
	Payload []byte        // passed to the handler
	ID      string        // idempotency id: concurrent Runs with one ID execute the body once and share its result
	Timeout time.Duration // per attempt; 0 = the pool's default (WithTimeout)
	Retries int           // further attempts after a handler error or timeout; re-sends after a lost or busy worker do not count (Stats.Retried counts both)
	Func    func() error  // when set, runs on this node's pool only; Name is then a label
}

// Stats is a snapshot of a Pool's counters on this node.
type Stats struct {
	Running int            // tasks running on this node (handlers and local Funcs)
	Queued  int            // tasks waiting for a slot on this node
	Done    uint64         // executions on this node that succeeded
	Failed  uint64         // executions on this node that failed (error, panic, timeout)
	Retried uint64         // further attempts made by this node's Runs
	Loads   map[string]int // per worker: the last load (running+queued) it reported to this node

	Submitted   uint64         // Runs started on this node, Submit's included
	RunFailures uint64         // of those, the ones that returned an error
	InFlight    int            // Runs of this node in progress
	RunLatency  stats.Snapshot // how long each Run of this node took, whatever its outcome
	ExecLatency stats.Snapshot // how long each execution on this node took (handlers and local Funcs)
}

// Pool runs named commands on the cluster's workers and serves this
// node's registered commands. Safe for concurrent use.
type Pool struct {
	node    *cluster.Node
	ring    *hashring.Cache // the idempotency ids' ring of the last view of workers
	log     *slog.Logger
	size    int
	timeout time.Duration

	regMu sync.Mutex // serializes Register's tag updates

	wmu      sync.Mutex          // protects wversion and wcache
	wversion uint64              // the member list version wcache is of
	wcache   map[string][]string // workers' result by command
	unclaim  func()              // frees the node's Pool slot

	sem     chan struct{} // one token per running task
	load    atomic.Int64  // running + queued
	running atomic.Int64
	done    atomic.Uint64
	failed  atomic.Uint64
	retried atomic.Uint64

	submitted, runFailures atomic.Uint64
	runsInFlight           atomic.Int64
	runLatency, execTime   stats.Histogram

	ctx      context.Context // canceled by Close: Submits, schedules, Runs
	cancel   context.CancelFunc
	hard     context.Context // canceled when Close's grace for handlers ends
	hardStop context.CancelFunc
	wg       sync.WaitGroup // goroutines the Pool started
	execs    sync.WaitGroup // running handlers and local Funcs

	mu struct {
		sync.Mutex
		closed   bool
		handlers map[string]Handler
		flights  map[string]*flight // by idempotency id
		views    map[string]*workerView
		results  map[string]*result // Submit's tasks, by id
		sweep    time.Time          // next expiry sweep of results
		ticks    map[string]int64   // schedule name -> highest tick known done
		seq      uint64
	}
}

// workerView is what this node knows of a worker's load.
type workerView struct {
	inflight int       // this node's attempts on it now
	load     int       // last reported running+queued
	size     int       // last reported pool size
	at       time.Time // when load was reported
}

// New makes a Pool on n and starts serving task requests. It registers no
// command: call Register for each command this node can run.
func New(n *cluster.Node, opts ...Option) (*Pool, error) {
	if n == nil {
		return nil, errors.New("taskpool: New: nil node")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	// One Pool per node: a second would take over the first's methods.
	release, ok := n.Exclusive(poolKey{})
	if !ok {
		return nil, ErrPoolExists
	}
	p := &Pool{node: n, ring: hashring.NewCache(32), log: n.Logger().With("pkg", "taskpool"), size: o.size, timeout: o.timeout, sem: make(chan struct{}, o.size), unclaim: release}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.hard, p.hardStop = context.WithCancel(context.Background())
	p.mu.handlers = map[string]Handler{}
	p.mu.flights = map[string]*flight{}
	p.mu.views = map[string]*workerView{}
	p.mu.results = map[string]*result{}
	p.mu.ticks = map[string]int64{}
	cluster.HandleFunc(n, methodRun, p.serveRun)
	cluster.HandleFunc(n, methodTickDone, p.serveTickDone)
	cluster.HandleFunc(n, methodLastTick, p.serveLastTick)
	return p, nil
}

// Register makes this node a worker for tasks called name, run by h. It
// advertises the node's command names in its gossip tags; it fails if they
// would not fit. Registering a name again replaces its handler.
func (p *Pool) Register(name string, h Handler) error {
	if err := validName(name); err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("taskpool: Register(%q): nil handler", name)
	}
	// regMu, not mu, is held across SetTags: it waits for gossip, and
	// workers serving tasks meanwhile need mu.
	p.regMu.Lock()
	defer p.regMu.Unlock()
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	_, had := p.mu.handlers[name]
	p.mu.handlers[name] = h
	tag := p.tagLocked()
	p.mu.Unlock()
	if had {
		return nil
	}
	if err := p.node.SetTags(map[string]string{tagCommands: tag}); err != nil {
		p.mu.Lock()
		delete(p.mu.handlers, name)
		p.mu.Unlock()
		return errtext.Errorf("taskpool: ", "taskpool: Register(%q): advertise: %w", name, err)
	}
	return nil
}

func validName(name string) error {
	if name == "" || len(name) > maxNameLen || strings.Contains(name, ",") {
		return fmt.Errorf("taskpool: command name %q: want 1 to %d bytes without ','", name, maxNameLen)
	}
	return nil
}

// tagLocked returns the value of tagCommands for the registered names.
func (p *Pool) tagLocked() string {
	return strings.Join(slices.Sorted(maps.Keys(p.mu.handlers)), ",")
}

// Stats returns this node's counters and the loads it has seen.
func (p *Pool) Stats() Stats {
	running := p.running.Load()
	s := Stats{
		Running: int(running),
		Queued:  int(max(p.load.Load()-running, 0)),
		Done:    p.done.Load(),
		Failed:  p.failed.Load(),
		Retried: p.retried.Load(),
		Loads:   map[string]int{},

		Submitted:   p.submitted.Load(),
		RunFailures: p.runFailures.Load(),
		InFlight:    int(p.runsInFlight.Load()),
		RunLatency:  p.runLatency.Snapshot(),
		ExecLatency: p.execTime.Snapshot(),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, v := range p.mu.views {
		if !v.at.IsZero() {
			s.Loads[name] = v.load
		}
	}
	return s
}

// Close stops taking work: new calls return ErrClosed and workers answer
// ErrClosed, so submitters go elsewhere. It cancels Submit's tasks,
// schedules and Runs in progress, waits for running handlers up to the
// attempt timeout (then cancels their ctx and waits for them to return),
// withdraws the commands from the node's tags and its RPC methods, and
// waits for every goroutine it started, the clean-up of attempts that
// Runs gave up on included. It returns within the grace (WithTimeout)
// plus the time handlers and Funcs take to return once canceled, plus
// serf's broadcast timeout for the tag update (2 s on Local, 5 s
// otherwise), plus, with schedules, 1 s to resign and the election's
// Close. Idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.closed = true
	p.mu.Unlock()
	p.cancel()
	drained := make(chan struct{})
	go func() { p.execs.Wait(); close(drained) }()
	t := time.NewTimer(p.timeout)
	select {
	case <-drained:
	case <-t.C:
	}
	t.Stop()
	p.hardStop()
	<-drained
	if err := p.node.SetTags(map[string]string{tagCommands: ""}); err != nil && !errors.Is(err, cluster.ErrClosed) {
		p.log.Warn("withdraw commands", "err", err)
	}
	p.node.Handle(methodRun, nil)
	p.node.Handle(methodTickDone, nil)
	p.node.Handle(methodLastTick, nil)
	p.wg.Wait()
	p.unclaim() // a new Pool may start on the node now
	return nil
}

// poolKey is the node's one Pool slot (cluster.Node.Exclusive).
type poolKey struct{}

// spawn runs f on a goroutine Close waits for, unless the Pool is closed.
func (p *Pool) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return false
	}
	p.wg.Go(f)
	return true
}

// newTaskID returns an id unique in the cluster (node names are unique).
func (p *Pool) newTaskID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.seq++
	return fmt.Sprintf("%s-%d-%d", p.node.Name(), startNanos, p.mu.seq)
}

// startNanos tells apart the task ids of a node's successive processes.
var startNanos = time.Now().UnixNano() % 1e9
