package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/metrics"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/taskpool"
	"github.com/gossipsync/gossipsync/voters"
)

const (
	ttl       = 400 * time.Millisecond
	lockDelay = 500 * time.Millisecond
)

// env is a simulated cluster with every primitive on every node.
type env struct {
	c      *sim.Cluster
	locks  map[string]*lockmgr.Manager
	els    map[string]*election.Elector
	clocks map[string]*clock.Clock
	pools  map[string]*taskpool.Pool
}

func startEnv(t *testing.T, nodes int) *env {
	t.Helper()
	e := &env{c: simtest.Start(t, nodes, 1), locks: map[string]*lockmgr.Manager{}, els: map[string]*election.Elector{}, clocks: map[string]*clock.Clock{}, pools: map[string]*taskpool.Pool{}}
	t.Cleanup(func() { // before simtest's: the primitives close before the nodes
		for _, p := range e.pools {
			p.Close()
		}
		for _, c := range e.clocks {
			c.Close()
		}
		for _, el := range e.els {
			el.Close()
		}
		for _, m := range e.locks {
			m.Close()
		}
	})
	for _, n := range e.c.Nodes() {
		m, err := lockmgr.New(n, lockmgr.LockDelay(lockDelay))
		if err != nil {
			t.Fatalf("lockmgr.New: %v", err)
		}
		e.locks[n.Name()] = m
		if e.els[n.Name()], err = election.New(n, election.Group("g")); err != nil {
			t.Fatalf("election.New: %v", err)
		}
		if e.clocks[n.Name()], err = clock.New(n); err != nil {
			t.Fatalf("clock.New: %v", err)
		}
		if e.pools[n.Name()], err = taskpool.New(n); err != nil {
			t.Fatalf("taskpool.New: %v", err)
		}
	}
	return e
}

// collector returns a pedantic registry (it checks that every metric
// collected was described) with a Collector of node name and all its
// primitives.
func (e *env) collector(name string) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(e.c.Node(name),
		metrics.WithLocks(e.locks[name]),
		metrics.WithElector(e.els[name]),
		metrics.WithClock(e.clocks[name]),
		metrics.WithTasks(e.pools[name]),
	))
	return reg
}

var (
	counterType   = dto.MetricType_COUNTER
	gaugeType     = dto.MetricType_GAUGE
	histogramType = dto.MetricType_HISTOGRAM
)

// wantTypes is every metric of a node with every primitive that has
// done some work, by type.
var wantTypes = map[string]dto.MetricType{
	"gossipsync_cluster_members":               gaugeType,
	"gossipsync_cluster_health_score":          gaugeType,
	"gossipsync_cluster_quorum_size":           gaugeType,
	"gossipsync_rpc_calls_total":               counterType,
	"gossipsync_rpc_errors_total":              counterType,
	"gossipsync_rpc_duration_seconds":          histogramType,
	"gossipsync_voters_epoch":                  gaugeType,
	"gossipsync_voters_term":                   gaugeType,
	"gossipsync_voters_voters":                 gaugeType,
	"gossipsync_voters_learners":               gaugeType,
	"gossipsync_voters_role":                   gaugeType,
	"gossipsync_voters_has_leader":             gaugeType,
	"gossipsync_lock_acquire_seconds":          histogramType,
	"gossipsync_lock_waiters":                  gaugeType,
	"gossipsync_lock_held":                     gaugeType,
	"gossipsync_lock_grants_total":             counterType,
	"gossipsync_lock_lease_losses_total":       counterType,
	"gossipsync_lock_acquire_errors_total":     counterType,
	"gossipsync_election_leader":               gaugeType,
	"gossipsync_election_term":                 gaugeType,
	"gossipsync_election_wins_total":           counterType,
	"gossipsync_election_leader_changes_total": counterType,
	"gossipsync_election_lease_losses_total":   counterType,
	"gossipsync_clock_offset_seconds":          gaugeType,
	"gossipsync_clock_uncertainty_seconds":     gaugeType,
	"gossipsync_clock_rtt_seconds":             gaugeType,
	"gossipsync_clock_is_reference":            gaugeType,
	"gossipsync_clock_synced":                  gaugeType,
	"gossipsync_clock_reference_term":          gaugeType,
	"gossipsync_clock_syncs_total":             counterType,
	"gossipsync_clock_sync_rejected_total":     counterType,
	"gossipsync_clock_sync_failures_total":     counterType,
	"gossipsync_task_submitted_total":          counterType,
	"gossipsync_task_run_failures_total":       counterType,
	"gossipsync_task_runs_in_flight":           gaugeType,
	"gossipsync_task_run_seconds":              histogramType,
	"gossipsync_task_done_total":               counterType,
	"gossipsync_task_failed_total":             counterType,
	"gossipsync_task_retries_total":            counterType,
	"gossipsync_task_running":                  gaugeType,
	"gossipsync_task_queued":                   gaugeType,
	"gossipsync_task_execution_seconds":        histogramType,
}

// TestCollector drives every primitive of a 3-node cluster from n1 and
// checks that n1's metrics follow: lock grants and held locks,
// leadership, a task run, clock sync, membership and RPC; then that every
// metric has its type and passes Prometheus' lint.
func TestCollector(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		reg := e.collector("n1")
		ctx := context.Background()
		s := waitFor(t, reg, "a voter group of 3 with a leader", func(s scrape) bool {
			return s.get("gossipsync_voters_voters") == 3 && s.get("gossipsync_voters_has_leader") == 1
		})
		if got := s.value(t, "gossipsync_cluster_members", "state=alive"); got != 3 {
			t.Errorf("alive members %v, want 3", got)
		}
		if got := s.value(t, "gossipsync_cluster_members", "state=failed"); got != 0 {
			t.Errorf("failed members %v, want 0", got)
		}
		if got := s.value(t, "gossipsync_cluster_quorum_size"); got != 2 {
			t.Errorf("quorum size %v, want 2", got)
		}
		roles := 0.0
		for _, r := range []string{"leader", "voter", "learner", "none"} {
			roles += s.value(t, "gossipsync_voters_role", "role="+r)
		}
		if roles != 1 || s.value(t, "gossipsync_voters_role", "role=none") != 0 {
			t.Errorf("voter roles add up to %v with none=%v; want one role, in the configuration", roles, s.value(t, "gossipsync_voters_role", "role=none"))
		}
		if s.value(t, "gossipsync_voters_term") == 0 {
			t.Error("voters_term is 0 on a member of a group with a leader")
		}

		checkLocks(t, e, reg, ctx)
		checkElection(t, e, reg, ctx)
		checkTasks(t, e, reg, ctx)
		s = waitFor(t, reg, "the clock in sync", func(s scrape) bool {
			return s.get("gossipsync_clock_synced") == 1 &&
				(s.get("gossipsync_clock_is_reference") == 1 || s.get("gossipsync_clock_syncs_total") > 0)
		})
		if got := s.value(t, "gossipsync_rpc_calls_total", "method=lockmgr.acquire"); got < 1 {
			t.Errorf("lockmgr.acquire calls %v, want at least 1", got)
		}
		if got := s.value(t, "gossipsync_rpc_duration_seconds", "method=lockmgr.acquire"); got != s.value(t, "gossipsync_rpc_calls_total", "method=lockmgr.acquire") {
			t.Errorf("lockmgr.acquire: %v timed calls, want one per call", got)
		}
		checkTypes(t, s)
		problems, err := promlint.NewWithMetricFamilies(mfs(s)).Lint()
		if err != nil {
			t.Fatalf("lint: %v", err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	})
}

func checkTypes(t *testing.T, s scrape) {
	t.Helper()
	for name, typ := range wantTypes {
		mf := s[name]
		switch {
		case mf == nil:
			t.Errorf("metric %s missing", name)
		case mf.GetType() != typ:
			t.Errorf("%s, want %s", describe(mf), typ)
		}
	}
	for name := range s {
		if _, ok := wantTypes[name]; !ok {
			t.Errorf("metric %s is not in the test's list (and maybe not in the doc)", name)
		}
	}
}

func mfs(s scrape) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, name := range s.names() {
		out = append(out, s[name])
	}
	return out
}

// checkLocks takes a lock on n1 and lets go of it, and has a TryAcquire
// refused.
func checkLocks(t *testing.T, e *env, reg prometheus.Gatherer, ctx context.Context) {
	t.Helper()
	before := gather(t, reg)
	l, err := e.locks["n1"].Acquire(ctx, "a", lockmgr.TTL(ttl), lockmgr.Wait(30*time.Second))
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	s := gather(t, reg)
	if got, want := s.value(t, "gossipsync_lock_grants_total"), before.value(t, "gossipsync_lock_grants_total")+1; got != want {
		t.Errorf("grants %v after an Acquire, want %v", got, want)
	}
	if got := s.value(t, "gossipsync_lock_held"); got != 1 {
		t.Errorf("held locks %v while holding one, want 1", got)
	}
	if got := s.value(t, "gossipsync_lock_acquire_seconds"); got != 1 {
		t.Errorf("acquire latencies %v after one Acquire, want 1", got)
	}
	if got := s.value(t, "gossipsync_lock_waiters"); got != 0 {
		t.Errorf("waiters %v after Acquire returned, want 0", got)
	}
	l2, err := e.locks["n2"].Acquire(ctx, "b", lockmgr.TTL(ttl), lockmgr.Wait(30*time.Second))
	if err != nil {
		t.Fatalf("Acquire on n2: %v", err)
	}
	if _, err := e.locks["n1"].TryAcquire(ctx, "b", lockmgr.TTL(ttl)); !errors.Is(err, lockmgr.ErrLocked) {
		t.Errorf("TryAcquire of a held id = %v, want ErrLocked", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Errorf("Release on n2: %v", err)
	}
	s = waitFor(t, reg, "no lock held", func(s scrape) bool { return s.get("gossipsync_lock_held") == 0 })
	if got := s.value(t, "gossipsync_lock_acquire_errors_total", "reason=locked"); got != 1 {
		t.Errorf("locked errors %v after a refused TryAcquire, want 1", got)
	}
	if got := s.value(t, "gossipsync_lock_lease_losses_total"); got != 0 {
		t.Errorf("lease losses %v after a Release, want 0", got)
	}
}

// checkElection elects a candidate on n1 and resigns.
func checkElection(t *testing.T, e *env, reg prometheus.Gatherer, ctx context.Context) {
	t.Helper()
	if got := gather(t, reg).value(t, "gossipsync_election_leader", "group=g"); got != 0 {
		t.Errorf("leader gauge %v before any election, want 0", got)
	}
	el, err := e.els["n1"].Elect(ctx, "c1")
	if err != nil {
		t.Fatalf("Elect: %v", err)
	}
	s := gather(t, reg)
	if got := s.value(t, "gossipsync_election_leader", "group=g"); got != 1 {
		t.Errorf("leader gauge %v while leading, want 1", got)
	}
	if got := s.value(t, "gossipsync_election_term", "group=g"); got != float64(el.Term()) {
		t.Errorf("term %v, want the won term %d", got, el.Term())
	}
	if got := s.value(t, "gossipsync_election_wins_total", "group=g"); got != 1 {
		t.Errorf("wins %v, want 1", got)
	}
	if err := el.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	s = waitFor(t, reg, "the leader gauge back to 0", func(s scrape) bool {
		return s.get("gossipsync_election_leader", "group=g") == 0 && s.get("gossipsync_election_leader_changes_total", "group=g") >= 1
	})
	if got := s.value(t, "gossipsync_election_lease_losses_total", "group=g"); got != 0 {
		t.Errorf("lease losses %v after a Resign, want 0", got)
	}
}

// checkTasks runs a task from n1 on n2.
func checkTasks(t *testing.T, e *env, reg prometheus.Gatherer, ctx context.Context) {
	t.Helper()
	if err := e.pools["n2"].Register("echo", func(_ context.Context, p []byte) ([]byte, error) { return p, nil }); err != nil {
		t.Fatalf("Register: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := e.pools["n1"].Run(ctx, taskpool.Command{Name: "echo", Payload: []byte("hi")})
		if err == nil && string(res) == "hi" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run: %q, %v 30 s after Register", res, err)
		}
		time.Sleep(10 * time.Millisecond) // the command's tag is still on its way
	}
	s := gather(t, reg)
	submitted, failures := s.value(t, "gossipsync_task_submitted_total"), s.value(t, "gossipsync_task_run_failures_total")
	if submitted < 1 || submitted != failures+1 {
		t.Errorf("%v Runs submitted and %v failed, want one more submitted than failed (the last Run succeeded)", submitted, failures)
	}
	if got := s.value(t, "gossipsync_task_run_seconds"); got != submitted {
		t.Errorf("%v Run latencies, want one per Run (%v)", got, submitted)
	}
	if got := s.value(t, "gossipsync_task_runs_in_flight"); got != 0 {
		t.Errorf("Runs in flight %v after Run returned, want 0", got)
	}
	if got := s.value(t, "gossipsync_task_done_total"); got != 0 {
		t.Errorf("n1 executed %v tasks, want 0: they ran on n2", got)
	}
}

// A Collector of a node without primitives reports the node alone, and
// looking does not start the node's voter service.
func TestCollectorNodeOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 2, 1)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(metrics.NewCollector(c.Node("n1")))
		s := gather(t, reg)
		if got := s.value(t, "gossipsync_cluster_members", "state=alive"); got != 2 {
			t.Errorf("alive members %v, want 2", got)
		}
		for name := range s {
			if !strings.HasPrefix(name, "gossipsync_cluster_") && !strings.HasPrefix(name, "gossipsync_rpc_") {
				t.Errorf("metric %s on a node without primitives", name)
			}
		}
		if _, _, ok := voters.Lookup(c.Node("n1")); ok {
			t.Error("the scrape started a voter service")
		}
	})
}

// Several nodes of one process share a registry through
// WrapRegistererWith, one node label each.
func TestCollectorSeveralNodesOneRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 2, 1)
		reg := prometheus.NewPedanticRegistry()
		for _, n := range c.Nodes() {
			prometheus.WrapRegistererWith(prometheus.Labels{"node": n.Name()}, reg).MustRegister(metrics.NewCollector(n))
		}
		s := gather(t, reg)
		for _, node := range []string{"n1", "n2"} {
			if got := s.value(t, "gossipsync_cluster_members", "node="+node, "state=alive"); got != 2 {
				t.Errorf("%s: alive members %v, want 2", node, got)
			}
		}
	})
}
