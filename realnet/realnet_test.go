package realnet_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/realnet"
	"github.com/gossipsync/gossipsync/sim/check"
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
// the simulation's checkers (L1-L3, E1-E3, porcupine), their clock
// readings by C1-C3 (realnet.Clocks) and the store's log by the fencing
// rule; the lock figures per fault kind are printed beside the
// simulation's replay of the same schedule. It runs when GOSSIPSYNC_REALNET=1 (.ci/run sets it), as
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
	draw := realnet.NewSchedule(r, s.nodes)
	t0 := time.Now()
	var schedule []realnet.Fault
	for i := 0; time.Since(t0) < dur; i++ {
		f := draw.Next()
		f.At = time.Since(t0)
		s.t.Logf("fault %d at %s (+%v): %v", i, clock(), f.At.Round(time.Millisecond), f)
		s.fault(f)
		schedule = append(schedule, f)
		time.Sleep(time.Duration(1500+r.IntN(1500)) * time.Millisecond) // calm between faults
	}
	last := time.Since(t0)
	s.waitGrants(20*time.Second, "a grant after the last fault")
	s.stopGracefully()
	stop := time.Now()
	real := s.judge(begin, stop)
	s.compare(real, schedule, last, seed)
}

// fault makes f happen and returns when it is over.
func (s *suite) fault(f realnet.Fault) {
	from := time.Now()
	switch f.Kind {
	case realnet.Rolling:
		for _, name := range s.nodes {
			s.terminate(name)
			s.startNode(name)
			time.Sleep(f.For)
		}
	case realnet.Kill:
		s.kill(f.Node)
		time.Sleep(f.For)
		s.startNode(f.Node)
	case realnet.Stop:
		s.pause(f.Node, f.For)
	case realnet.Majority, realnet.Isolated, realnet.NoMajority:
		if err := s.net.Partition(f.Groups...); err != nil {
			s.t.Fatal(err)
		}
		s.checkCut(f.Groups)
		time.Sleep(time.Until(from.Add(f.For)))
		if err := s.net.Heal(); err != nil {
			s.t.Fatal(err)
		}
		s.checkHealed(f.Groups)
		if f.Kind == realnet.NoMajority {
			s.mu.Lock()
			s.faults.NoMajority = append(s.faults.NoMajority, realnet.Window{What: f.Kind, From: from, To: time.Now().Add(3 * time.Second)})
			s.mu.Unlock()
		}
	default:
		s.filterFault(f)
	}
	s.window(f.Kind, from)
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

// judge checks the histories and returns the lock history.
func (s *suite) judge(begin, end time.Time) check.LockHistory {
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
	v := check.CheckLocks(h)
	gap := realnet.LongestGap(h, s.faults)
	s.t.Logf("%d grants (%.1f/s), acquire p50 %v p99 %v, handover p50 %v p99 %v (%d); errors %v; longest gap without a grant %v from %s (no majority then: %v); late writes refused %d, accepted %d, harmless %d",
		v.Grants, v.PerSecond, v.P50, v.P99, v.HandoverP50, v.HandoverP99, v.Handovers, h.Errors, gap.Len.Round(time.Millisecond), gap.From.Format("15:04:05.000"), gap.InNoMajority, v.Late.Rejected, v.Late.Accepted, v.Late.Harmless)
	for name, vs := range map[string]check.Violations{"L1": v.L1, "L2": v.L2, "L3": v.L3} {
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
	ev := check.CheckElection(realnet.Leases(evs, s.faults), end)
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
	cv := realnet.Clocks(evs)
	s.t.Logf("clock: %d readings, %d unsynced; %d judged by C1 (%d on a term whose reference never reported), %d pairs by C3; largest error %v, largest uncertainty %v",
		cv.Readings, cv.Unsynced, cv.Judged, cv.NoRef, cv.Pairs, cv.Err, cv.Uncertainty)
	for name, vs := range map[string][]string{"C1": cv.C1, "C2": cv.C2, "C3": cv.C3} {
		if len(vs) > 0 {
			s.t.Errorf("%s broken %d times: %v", name, len(vs), vs[:min(len(vs), 10)])
		}
	}
	if cv.Judged < 100 {
		s.t.Errorf("only %d clock readings judged: too few", cv.Judged)
	}
	return h
}
