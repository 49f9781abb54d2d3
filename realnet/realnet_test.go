package realnet_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/realnet"
	"github.com/gossipsync/gossipsync/sim"
)

// envDuration reads a duration from the environment, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// TestRealFaults runs five nodes and a store as real processes, each in
// a network namespace of its own, and makes faults on a seeded schedule
// (GOSSIPSYNC_REALNET_SEED, printed; GOSSIPSYNC_REALNET_DURATION of
// faults, default 1m): kill -9 and restart under the same name, SIGSTOP
// for longer than the lease, a majority/minority partition, one node
// isolated, no majority anywhere, a rolling restart, a one-way cut,
// packet loss, and delays that reorder. The processes' histories are judged by
// the simulation's checkers (L1-L3, porcupine) and the store's log by the
// fencing rule. It runs when GOSSIPSYNC_REALNET=1 (.ci/run sets it), as
// root; otherwise it is skipped.
func TestRealFaults(t *testing.T) {
	if os.Getenv("GOSSIPSYNC_REALNET") != "1" {
		t.Skip("skipped: set GOSSIPSYNC_REALNET=1 to run the real-process fault suite (as root: sudo GOSSIPSYNC_REALNET=1 go test ./realnet/)")
	}
	if err := realnet.Available(nsPrefix); err != nil {
		t.Fatalf("GOSSIPSYNC_REALNET=1 but the suite cannot run: %v (run it as root: sudo GOSSIPSYNC_REALNET=1 go test ./realnet/)", err)
	}
	seed, err := strconv.ParseUint(os.Getenv("GOSSIPSYNC_REALNET_SEED"), 10, 64)
	if err != nil {
		seed = 1
	}
	dur := envDuration("GOSSIPSYNC_REALNET_DURATION", time.Minute)
	t.Logf("seed %d, %v of faults (replay: GOSSIPSYNC_REALNET_SEED=%d GOSSIPSYNC_REALNET_DURATION=%v go test -run TestRealFaults ./realnet/)", seed, dur, seed, dur)
	s := newSuite(t, fmt.Sprintf("%s%d-", nsPrefix, os.Getpid()), 5)
	begin := time.Now()
	s.waitGrants(30*time.Second, "the first grant")
	r := rand.New(rand.NewPCG(seed, 0x7ea1))
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		s.fault(r, i)
		time.Sleep(time.Duration(1500+r.IntN(1500)) * time.Millisecond) // calm between faults
	}
	s.waitGrants(20*time.Second, "a grant after the last fault")
	s.stopGracefully()
	stop := time.Now()
	s.judge(begin, stop)
}

// fault makes one fault of the schedule, logging it.
func (s *suite) fault(r *rand.Rand, i int) {
	n := s.nodes[r.IntN(len(s.nodes))]
	perm := r.Perm(len(s.nodes))
	side := func(from, to int) []string { // nodes perm[from:to]
		var g []string
		for _, j := range perm[from:to] {
			g = append(g, s.nodes[j])
		}
		return g
	}
	switch kind := r.IntN(9); kind {
	case 6, 7, 8:
		s.filterFault(r, i, kind, n)
	case 5:
		s.t.Logf("fault %d at %s: rolling restart of every node (SIGTERM, start, 2 s)", i, clock())
		from := time.Now()
		for _, name := range s.nodes {
			s.terminate(name)
			s.startNode(name)
			time.Sleep(2 * time.Second)
		}
		s.window("rolling restart", from)
	case 0:
		down := time.Duration(200+r.IntN(1800)) * time.Millisecond
		s.t.Logf("fault %d at %s: kill -9 %s, restart after %v", i, clock(), n, down)
		from := time.Now()
		s.kill(n)
		time.Sleep(down)
		s.startNode(n)
		s.window("kill -9", from)
	case 1:
		d := time.Duration(1500+r.IntN(1500)) * time.Millisecond // longer than the 1 s lease
		s.t.Logf("fault %d at %s: SIGSTOP %s for %v", i, clock(), n, d)
		from := time.Now()
		s.pause(n, d)
		s.window("SIGSTOP", from)
	case 2, 3, 4:
		var groups [][]string
		switch kind {
		case 2:
			groups = [][]string{side(0, 3), side(3, 5)}
		case 3:
			groups = [][]string{slices.DeleteFunc(slices.Clone(s.nodes), func(m string) bool { return m == n }), {n}}
		case 4:
			groups = [][]string{side(0, 2), side(2, 4), side(4, 5)}
		}
		d := time.Duration(3000+r.IntN(3000)) * time.Millisecond
		s.t.Logf("fault %d at %s: partition %v for %v", i, clock(), groups, d)
		from := time.Now()
		if err := s.net.Partition(groups...); err != nil {
			s.t.Fatal(err)
		}
		s.checkCut(groups)
		time.Sleep(d)
		if err := s.net.Heal(); err != nil {
			s.t.Fatal(err)
		}
		s.checkHealed(groups)
		s.window([]string{2: "majority/minority", 3: "one isolated", 4: "no majority"}[kind], from)
		if kind == 4 {
			s.mu.Lock()
			s.faults.NoMajority = append(s.faults.NoMajority, realnet.Window{What: "no majority", From: from, To: time.Now().Add(3 * time.Second)})
			s.mu.Unlock()
		}
	}
}

func clock() string { return time.Now().Format("15:04:05.000") }

// checkCut checks that the partition cuts: the first host of each group
// cannot reach the first of the next.
func (s *suite) checkCut(groups [][]string) {
	for i := 1; i < len(groups); i++ {
		a, b := groups[i-1][0], groups[i][0]
		if s.canDial(a, b, 300*time.Millisecond) {
			s.t.Fatalf("partition %v does not cut %s from %s", groups, a, b)
		}
	}
}

// checkHealed checks that a heal restores the paths checkCut found cut.
func (s *suite) checkHealed(groups [][]string) {
	for i := 1; i < len(groups); i++ {
		a, b := groups[i-1][0], groups[i][0]
		if !s.canDial(a, b, 3*time.Second) {
			s.t.Fatalf("after the heal of %v, %s still cannot reach %s", groups, a, b)
		}
	}
}

// window records a fault's span, up to now plus 2 s of recovery, for
// the availability figures.
func (s *suite) window(what string, from time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, realnet.Window{What: what, From: from, To: time.Now().Add(2 * time.Second)})
}

// waitGrants waits until some grant is recorded after now.
func (s *suite) waitGrants(timeout time.Duration, what string) {
	s.t.Helper()
	since := time.Now()
	deadline := since.Add(timeout)
	for time.Now().Before(deadline) {
		evs, err := realnet.ReadDir(s.dir)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, e := range evs {
			if e.T == "grant" && e.At.After(since) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("no grant within %v: waiting for %s", timeout, what)
}

func (s *suite) judge(begin, end time.Time) {
	evs, err := realnet.ReadDir(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		if e.T == "start" && !s.started[e.PID] {
			s.t.Fatalf("history of pid %d, which the suite did not start (ip netns exec no longer execs its command?): kills and stops were aimed elsewhere", e.PID)
		}
	}
	h := realnet.Locks(evs, s.faults, begin, end)
	v := sim.CheckLocks(h)
	gap := realnet.LongestGap(h, s.faults)
	s.t.Logf("%d grants (%.1f/s), acquire p50 %v p99 %v; errors %v; longest gap without a grant %v from %s (no majority then: %v); late writes refused %d, accepted %d, harmless %d",
		v.Grants, v.PerSecond, v.P50, v.P99, h.Errors, gap.Len.Round(time.Millisecond), gap.From.Format("15:04:05.000"), gap.InNoMajority, v.Late.Rejected, v.Late.Accepted, v.Late.Harmless)
	for name, vs := range map[string]sim.Violations{"L1": v.L1, "L2": v.L2, "L3": v.L3} {
		if vs.N > 0 {
			s.t.Errorf("%s broken %d times: %v", name, vs.N, vs.First)
		}
	}
	if v.NotLinearizable {
		s.t.Errorf("not linearizable: %s", v.Porcupine)
	}
	if v.Late.Accepted > 0 {
		s.t.Errorf("%d late writes accepted after the store had accepted a newer token", v.Late.Accepted)
	}
	for _, a := range realnet.Availability(h, s.windows) {
		s.t.Logf("%-18s %2d windows, %5.1f s: %5.1f grants/s, longest gap %v", a.What, a.Windows, a.Span.Seconds(), a.PerSecond, a.LongestGap.Round(time.Millisecond))
	}
	ev := sim.CheckElection(realnet.Leases(evs, s.faults), end)
	s.t.Logf("%d leader leases", ev.Leases)
	for name, vs := range map[string][]string{"E1": ev.E1, "E2": ev.E2, "E3": ev.E3} {
		if len(vs) > 0 {
			s.t.Errorf("%s broken %d times: %v", name, len(vs), vs[:min(len(vs), 10)])
		}
	}
	if ev.Leases < 3 {
		s.t.Errorf("only %d leader leases: too few to judge", ev.Leases)
	}
	if v.Grants < 10 {
		s.t.Errorf("only %d grants: too few to judge", v.Grants)
	}
}
