package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// idleChildFlag, as the first argument, makes the program the idle row's
// child instead of the benchmark: it is not among the flags -h lists.
const idleChildFlag = "-idle-child"

// The idle child's waits.
const (
	idleReadyWait = 60 * time.Second // bounds the start, up to the leader known everywhere
	idleSettle    = time.Second      // after that, before the window opens
)

// usage is a process's CPU time so far and its resident set now.
type usage struct {
	cpu time.Duration
	rss uint64
}

// idleReport is what the child prints, as one JSON line, on stdout.
type idleReport struct {
	Nodes      int     `json:"nodes"`
	ReadyS     float64 `json:"ready_s"`  // from the start to the leader known on every node
	WindowS    float64 `json:"window_s"` // the measured window, wall time
	CPUS       float64 `json:"cpu_s"`    // user+system CPU time in the window
	RSSBytes   uint64  `json:"rss_bytes"`
	HeapBytes  uint64  `json:"live_heap_bytes"`
	Goroutines uint64  `json:"goroutines"`
	Voters     int     `json:"voters"`
	Lost       string  `json:"lost,omitempty"` // the lock or the leadership was lost in the window
}

// runIdleChild starts the idle row's nodes in this process, waits until
// they are at rest, measures the process over the window and prints an
// idleReport. It does not close the nodes: the process ends right after.
func runIdleChild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench "+idleChildFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("nodes", 1, "nodes to start")
	window := fs.Duration("window", idleWindow, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 1 || *window <= 0 {
		fmt.Fprintf(stderr, "bench %s: want -nodes ≥ 1 and a positive -window\n", idleChildFlag)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := idleChild(ctx, *n, *window, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", idleChildFlag, err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(rep); err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", idleChildFlag, err)
		return 1
	}
	return 0
}

// idleChild brings n nodes to rest and measures them: node 1 holds one
// lock and leads one election group; every node has a Manager and an
// Elector.
func idleChild(ctx context.Context, n int, window time.Duration, log io.Writer) (idleReport, error) {
	began := time.Now()
	rctx, cancel := context.WithTimeout(ctx, idleReadyWait)
	defer cancel()
	nodes, err := startIdleNodes(rctx, n)
	if err != nil {
		return idleReport{}, err
	}
	fmt.Fprintf(log, "   %s: members converged after %v\n", nodesText(n), since(began))
	var ms []*lockmgr.Manager
	var els []*election.Elector
	for _, node := range nodes {
		m, err := lockmgr.New(node, lockmgr.LockDelay(lockDelay))
		if err != nil {
			return idleReport{}, err
		}
		e, err := election.New(node, election.Group("idle"))
		if err != nil {
			return idleReport{}, err
		}
		ms, els = append(ms, m), append(els, e)
	}
	nv, err := waitVoters(rctx, nodes)
	if err != nil {
		return idleReport{}, err
	}
	fmt.Fprintf(log, "   %s: voters %d, their leader known everywhere after %v\n", nodesText(n), nv, since(began))
	take := func(ctx context.Context) (<-chan struct{}, error) {
		l, err := ms[0].Acquire(ctx, "idle", lockmgr.TTL(lockTTL))
		if err != nil {
			return nil, fmt.Errorf("acquire: %w", err)
		}
		return l.Done(), nil
	}
	lead := func(ctx context.Context) (<-chan struct{}, error) {
		el, err := els[0].Elect(ctx, "n1")
		if err != nil {
			return nil, fmt.Errorf("elect: %w", err)
		}
		return el.Revoked(), nil
	}
	hctx, stopHolding := context.WithCancel(ctx)
	defer stopHolding()
	var locksLost, leadsLost atomic.Int64
	for _, h := range []struct {
		get  func(context.Context) (<-chan struct{}, error)
		lost *atomic.Int64
	}{{take, &locksLost}, {lead, &leadsLost}} {
		ended, err := h.get(rctx)
		if err != nil {
			return idleReport{}, err
		}
		go holdOn(hctx, ended, h.get, h.lost)
	}
	if err := waitLeader(rctx, els, "n1"); err != nil {
		return idleReport{}, err
	}
	ready := time.Since(began)
	fmt.Fprintf(log, "   %s: lock held and leader known everywhere after %v\n", nodesText(n), ready.Round(time.Millisecond))
	select {
	case <-ctx.Done():
		return idleReport{}, ctx.Err()
	case <-time.After(idleSettle):
	}

	u0, err := procUsage()
	if err != nil {
		return idleReport{}, err
	}
	t0 := time.Now()
	locks0, leads0 := locksLost.Load(), leadsLost.Load()
	select {
	case <-ctx.Done():
		return idleReport{}, ctx.Err()
	case <-time.After(window):
	}
	u1, err := procUsage()
	if err != nil {
		return idleReport{}, err
	}
	wall := time.Since(t0)
	heap, gs := goMemory()
	var lost []string
	if k := locksLost.Load() - locks0; k > 0 {
		lost = append(lost, fmt.Sprintf("the lock lost %d× in the window, taken again", k))
	}
	if k := leadsLost.Load() - leads0; k > 0 {
		lost = append(lost, fmt.Sprintf("the leadership lost %d× in the window, taken again", k))
	}
	return idleReport{
		Nodes:      n,
		ReadyS:     ready.Seconds(),
		WindowS:    wall.Seconds(),
		CPUS:       (u1.cpu - u0.cpu).Seconds(),
		RSSBytes:   u1.rss,
		HeapBytes:  heap,
		Goroutines: gs,
		Voters:     nv,
		Lost:       strings.Join(lost, ", "),
	}, nil
}

// startIdleNodes starts n nodes as startNodes does, but waits for their
// membership to converge until ctx is done: 50 nodes on a busy machine
// take longer than joinTimeout.
func startIdleNodes(ctx context.Context, n int) ([]*cluster.Node, error) {
	var nodes []*cluster.Node
	for i := range n {
		seed := ""
		if i > 0 {
			seed = nodes[0].Addr()
		}
		node, err := joinNode(ctx, fmt.Sprintf("n%d", i+1), n, seed)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node)
	}
	d := idleReadyWait
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	return nodes, waitMembersFor(ctx, nodes, n, d)
}

// holdOn keeps what get gives held until ctx is done: each time ended
// closes it counts a loss in lost and gets it again, as a service that
// lost its lock or its leadership would.
func holdOn(ctx context.Context, ended <-chan struct{}, get func(context.Context) (<-chan struct{}, error), lost *atomic.Int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
		}
		lost.Add(1)
		for {
			var err error
			if ended, err = get(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// waitVoters waits until every node knows the voter group's leader, the
// same on all, and the group has its full size (min(Config.Voters, n)).
// It returns that size.
func waitVoters(ctx context.Context, nodes []*cluster.Node) (int, error) {
	want := min(nodes[0].Voters(), len(nodes))
	last := ""
	for {
		info, err := voterInfo(nodes)
		if err == nil && len(info.Voters) == want {
			return want, nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d voters, want %d", len(info.Voters), want)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("voter group not formed: %s", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// voterInfo returns the group as the first node sees it, if every node
// names the same leader.
func voterInfo(nodes []*cluster.Node) (voters.Info, error) {
	var first voters.Info
	for i, node := range nodes {
		svc, release, ok := voters.Lookup(node)
		if !ok {
			return first, fmt.Errorf("%s runs no voter service", node.Name())
		}
		in := svc.Info()
		release()
		switch {
		case in.Leader == "":
			return first, fmt.Errorf("%s knows no voter leader", node.Name())
		case i == 0:
			first = in
		case in.Leader != first.Leader:
			return first, fmt.Errorf("%s names voter leader %s, %s names %s", node.Name(), in.Leader, nodes[0].Name(), first.Leader)
		}
	}
	return first, nil
}

// waitLeader waits until every Elector names id as the group's leader.
func waitLeader(ctx context.Context, els []*election.Elector, id string) error {
	for {
		behind := -1
		for i, e := range els {
			l, err := e.Leader(ctx)
			if err != nil && !errors.Is(err, election.ErrNoLeader) && ctx.Err() == nil {
				return err
			}
			if l.ID != id {
				behind = i
				break
			}
		}
		if behind < 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("elector %d does not know leader %s", behind+1, id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// goMemory returns the Go heap's live bytes (as the last collection
// marked them) and the number of goroutines.
func goMemory() (liveHeap, goroutines uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	for i := range s {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0, 0
		}
	}
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
