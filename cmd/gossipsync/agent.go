package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/metrics"
	"github.com/gossipsync/gossipsync/taskpool"
	"github.com/gossipsync/gossipsync/voters"
)

const agentUsage = `usage: gossipsync agent [-join SEED]... [flags]

Runs a gossipsync node with every primitive, as a member of a cluster,
and serves its state over HTTP until interrupted (SIGINT or SIGTERM),
then leaves the cluster gracefully and exits 0. It exits 1 if it
cannot start, or cannot ever join (a wrong key, a name in use); 2 on a
bad flag.

The node joins through the seeds of -join (repeatable or
comma-separated; its own address may be among them, so that every
agent of a cluster can be given the same list), trying again every
second while none answers, so agents may start in any order; without
-join it starts a new cluster. It runs a lock Manager, an Elector
campaigning in the election group "agent" (its leader is shown), a
cluster clock, a task pool (with the command "agent.ping", which
returns the name of the node that ran it) and an event stream. Give
the same -key-file, -expect and -voters to every agent of a cluster.

The key file holds the cluster's secret key, 16, 24 or 32 bytes, as
hex or base64 text (surrounding white space is ignored) or as the raw
bytes. Make one with:

    head -c 32 /dev/urandom | base64 > cluster.key; chmod 600 cluster.key

HTTP, on -http (keep it on loopback or a trusted network: it has no
authentication):

    GET /healthz     200 "ok" while the node runs and has joined (or,
                     without -join, started a cluster); 503 with the
                     reason otherwise
    GET /v1/status   this node, the members (state, address, role,
                     tags), the voter group, the leader of each election
                     group, the held locks (holder, token, remaining
                     hold) and the clock, as JSON (its shape: type
                     Status in cmd/gossipsync/status.go)
    GET /ui          a page that shows /v1/status, refreshed every 2 s
    GET /            redirects to /ui
    GET /metrics     Prometheus metrics (see package metrics)

flags:
`

// agentGroup is the election group the agent campaigns in.
const agentGroup = "agent"

// pingCommand is the task the agent's pool runs: it returns the name of
// the node that ran it.
const pingCommand = "agent.ping"

// agentConfig is what the agent's flags ask for.
type agentConfig struct {
	node nodeFlags
	http string // -http: the address to serve HTTP on
}

// parseAgentFlags parses the agent's flags; on a bad one it prints the
// problem and the usage to stderr and returns an error (flag.ErrHelp
// for -h).
func parseAgentFlags(args []string, stderr io.Writer) (agentConfig, error) {
	fs := newFlagSet("agent", agentUsage, stderr)
	var cfg agentConfig
	cfg.node.register(fs)
	fs.StringVar(&cfg.http, "http", "127.0.0.1:8500", "the `ip:port` to serve /healthz, /v1/status and /ui on (port 0: any free port)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	} else {
		cfg.node.logTo = stderr
		_, err = cfg.node.config()
	}
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync agent: %v\n\n", err)
		fs.Usage()
	}
	return cfg, err
}

// runAgent is the agent command.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseAgentFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if cfg.node.keyFile == "" {
		fmt.Fprintln(stderr, "gossipsync agent: no -key-file: the cluster is open to anyone who can reach its port")
	}
	a, err := startAgent(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync agent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "gossipsync agent: node %s, gossip %s, http http://%s/ui\n", a.node.Name(), a.node.Addr(), a.httpAddr)
	status := 0
	select {
	case <-ctx.Done():
	case <-a.failed: // join printed why
		status = 1
	}
	fmt.Fprintf(stdout, "gossipsync agent: leaving\n")
	if err := a.close(); err != nil {
		fmt.Fprintf(stderr, "gossipsync agent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "gossipsync agent: left\n")
	return status
}

// agent is a running node with every primitive and its HTTP server.
type agent struct {
	node    *cluster.Node
	svc     *voters.Service
	release func() // drops svc
	// The primitives; status reads the clock, and the metrics read
	// them all.
	locks    *lockmgr.Manager
	elector  *election.Elector
	clock    *clock.Clock
	pool     *taskpool.Pool
	stream   *events.Stream
	closers  []func() error // the primitives' Close, in the order made
	http     *httpServer
	httpAddr string
	started  time.Time
	profile  string
	stderr   io.Writer
	// failed closes when the agent cannot go on (a join that can never
	// succeed: a wrong key, a name in use).
	failed chan struct{}

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // join and campaign

	mu      sync.Mutex // protects the fields below
	joined  bool       // the join succeeded (or there was nothing to join)
	joinErr error      // why the last join failed
}

// startAgent creates the node and its primitives, serves HTTP, and
// starts joining the seeds in the background.
func startAgent(cfg agentConfig, stderr io.Writer) (*agent, error) {
	ln, err := net.Listen("tcp", cfg.http)
	if err != nil {
		return nil, fmt.Errorf("-http: %w", err)
	}
	cfg.node.logTo = stderr
	n, err := cfg.node.create()
	if err != nil {
		ln.Close()
		return nil, err
	}
	a := &agent{node: n, started: time.Now(), profile: n.Profile().String(), stderr: stderr,
		httpAddr: ln.Addr().String(), failed: make(chan struct{})}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.startPrimitives(); err != nil {
		ln.Close()
		a.close()
		return nil, err
	}
	a.http = serveHTTP(ln, a, a.metrics())
	a.wg.Add(2)
	go a.join(cfg.node)
	go a.campaign()
	return a, nil
}

// metrics returns the handler of /metrics: the node's and its
// primitives' figures (package metrics), memberlist's and serf's own
// (bridged from go-metrics, process-wide: an agent is one node per
// process), and the Go runtime's and the process's.
func (a *agent) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewCollector(a.node, metrics.WithLocks(a.locks), metrics.WithElector(a.elector),
			metrics.WithClock(a.clock), metrics.WithTasks(a.pool)),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if err := metrics.BridgeGossip(reg); err != nil {
		fmt.Fprintf(a.stderr, "gossipsync agent: memberlist and serf metrics not served: %v\n", err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// startPrimitives makes the node's lock Manager, Elector, clock, task
// pool and event stream.
func (a *agent) startPrimitives() error {
	var err error
	a.svc, a.release = voters.Acquire(a.node)
	if a.clock, err = clock.New(a.node); err != nil {
		return err
	}
	a.closers = append(a.closers, a.clock.Close)
	if a.locks, err = lockmgr.New(a.node, lockmgr.Clock(a.clock)); err != nil {
		return err
	}
	a.closers = append(a.closers, a.locks.Close)
	if a.elector, err = election.New(a.node, election.Group(agentGroup)); err != nil {
		return err
	}
	a.closers = append(a.closers, a.elector.Close)
	if a.pool, err = taskpool.New(a.node); err != nil {
		return err
	}
	a.closers = append(a.closers, a.pool.Close)
	name := a.node.Name()
	if err := a.pool.Register(pingCommand, func(context.Context, []byte) ([]byte, error) { return []byte(name), nil }); err != nil {
		return err
	}
	if a.stream, err = events.New(a.node); err != nil {
		return err
	}
	a.closers = append(a.closers, a.stream.Close)
	return nil
}

// join joins the seeds, recording each failure for /healthz.
func (a *agent) join(f nodeFlags) {
	defer a.wg.Done()
	err := f.joinSeeds(a.ctx, a.node, func(err error) {
		a.mu.Lock()
		a.joinErr = err
		a.mu.Unlock()
		fmt.Fprintf(a.stderr, "gossipsync agent: join: %v; trying again\n", err)
	})
	a.mu.Lock()
	a.joined, a.joinErr = err == nil, err
	a.mu.Unlock()
	if err != nil && a.ctx.Err() == nil {
		fmt.Fprintf(a.stderr, "gossipsync agent: join: %v\n", err)
		close(a.failed)
	}
}

// campaign runs for the leadership of agentGroup as this node, again
// each time a lease ends, until close.
func (a *agent) campaign() {
	defer a.wg.Done()
	var el *election.Elected
	for a.ctx.Err() == nil {
		var err error
		if el == nil {
			el, err = a.elector.Elect(a.ctx, a.node.Name())
		} else {
			err = el.Reelect(a.ctx)
		}
		if err != nil {
			if errors.Is(err, election.ErrClosed) || a.ctx.Err() != nil {
				return
			}
			t := time.NewTimer(time.Second)
			select {
			case <-t.C:
			case <-a.ctx.Done():
			}
			t.Stop()
			continue
		}
		select {
		case <-el.Revoked():
		case <-a.ctx.Done():
		}
	}
}

// health reports whether the node runs and has joined, and why not.
func (a *agent) health() (bool, string) {
	select {
	case <-a.node.Done():
		return false, "the node is closed"
	default:
	}
	if a.ctx.Err() != nil {
		return false, "leaving"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.joined:
		return true, "ok"
	case a.joinErr != nil:
		return false, "not joined: " + a.joinErr.Error()
	}
	return false, "joining"
}

// closeTimeout bounds the graceful leave.
const closeTimeout = 10 * time.Second

// close stops the HTTP server and the primitives, the last made first
// (the Elector resigns, the Manager releases its locks), leaves the cluster and closes the
// node, and waits for everything the agent started.
func (a *agent) close() error {
	a.cancel()
	a.wg.Wait()
	var errs []error
	if a.http != nil {
		errs = append(errs, a.http.close())
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	if a.release != nil {
		a.release()
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := a.node.Leave(ctx); err != nil {
		errs = append(errs, fmt.Errorf("leave: %w", err))
	}
	errs = append(errs, a.node.Close())
	return errors.Join(errs...)
}

// statusTimeout bounds the reading of the voters' table for a status.
const statusTimeout = 3 * time.Second

// status reads the node's state and the voters' table.
func (a *agent) status(ctx context.Context) Status {
	info := a.svc.Info()
	st := Status{
		Node: NodeStatus{Name: a.node.Name(), Addr: a.node.Addr(), HTTP: a.httpAddr, Profile: a.profile,
			Started: a.started, Time: time.Now()},
		Members: membersStatus(a.node.MemberStates(), info),
		Voters:  votersStatus(info),
		Clock:   clockStatus(a.clock),
	}
	st.Node.Healthy, st.Node.Health = a.health()
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	if info.Group == 0 {
		// Grants would wait for a group until ctx ends.
		st.Grants.Error = "no voter group known yet"
	} else if g, err := a.svc.Grants(ctx, voters.MaxGrants); err != nil {
		st.Grants.Error = err.Error()
	} else {
		fillGrants(&st, g)
	}
	return st
}

// clockStatus describes c now.
func clockStatus(c *clock.Clock) ClockStatus {
	s := c.Stats()
	cs := ClockStatus{Reference: s.Reference, IsReference: s.IsReference, OffsetMS: ms(s.Offset),
		UncertaintyMS: ms(s.Uncertainty), RTTMS: ms(s.RTT), Samples: s.Samples, Rejected: s.Rejected}
	if s.Term != 0 {
		cs.Term = strconv.FormatUint(s.Term, 10)
	}
	now, err := c.Now()
	if err != nil {
		cs.Error = err.Error()
	} else {
		cs.Synced, cs.Now = true, now
	}
	return cs
}
