package clock_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// skewed starts a Local sim cluster whose nodes' physical clocks are off
// by up to ±10 s and drift by up to ±500 ppm, with a Clock on each.
func skewed(t *testing.T, nodes int) (*sim.Cluster, *sim.ClockWorkload) {
	t.Helper()
	c := simtest.Start(t, nodes, 3)
	for i, name := range c.Names() {
		sign := 1 - 2*(i%2) // alternate fast and slow
		c.SetSkew(name, time.Duration(sign*(i+1))*2*time.Second)
		c.SetDrift(name, float64(sign)*500*float64(i+1)/float64(nodes))
	}
	c.SetDelay(50*time.Microsecond, 500*time.Microsecond) // uneven one-way delays
	w, err := sim.StartClocks(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return c, w
}

// observe reads every clock every 50 ms for d and returns the verdict.
func observe(w *sim.ClockWorkload, d time.Duration) check.ClockCheck {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		w.Observe()
	}
	return w.Check()
}

// waitSynced waits until every clock reads without error.
func waitSynced(t *testing.T, w *sim.ClockWorkload, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		ok := true
		for _, r := range w.Observe() {
			ok = ok && r.Err == nil
		}
		if ok {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("clocks not all synced within %v", within)
	return 0
}

func report(t *testing.T, k check.ClockCheck) {
	t.Helper()
	t.Logf("judged %d readings (%d unsynced, %d stale): |error| p50 %v p99 %v, uncertainty p50 %v p99 %v, C3 max %v",
		k.Judged, k.Unsynced, k.Stale, check.Percentile(k.Errors, 50), check.Percentile(k.Errors, 99),
		check.Percentile(k.Uncertainty, 50), check.Percentile(k.Uncertainty, 99), k.C3Max)
	for _, m := range slices.Concat(k.C1Misses, k.C2Backwards, k.C3Misses, k.NowOff) {
		t.Error(m)
	}
	if k.Judged == 0 {
		t.Error("no reading was judged")
	}
}

func TestSimSkewAndDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, w := skewed(t, 5)
		d := waitSynced(t, w, 30*time.Second)
		t.Logf("all synced after %v (virtual)", d)
		report(t, observe(w, 60*time.Second))
	})
}

func TestSimReferenceCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := skewed(t, 5)
		waitSynced(t, w, 30*time.Second)
		observe(w, 5*time.Second)
		var ref string
		for _, r := range w.Observe() {
			if r.Stats.IsReference {
				ref = r.Node
			}
		}
		if ref == "" {
			t.Fatal("no reference")
		}
		c.Crash(ref)
		k := observe(w, 20*time.Second)
		report(t, k)
		for _, r := range w.Observe() {
			if r.Err != nil || r.Stats.Reference == ref || r.Stats.Reference == "" {
				t.Errorf("%s after the reference crashed: reference %q, err %v", r.Node, r.Stats.Reference, r.Err)
			}
		}
	})
}

func TestSimPartitionedMinority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := skewed(t, 5)
		waitSynced(t, w, 30*time.Second)
		c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		report(t, observe(w, 90*time.Second)) // long enough for the minority's drift allowance to pass 100 ms
		unsynced := 0
		for _, r := range w.Observe() {
			if r.Err != nil {
				unsynced++
			}
		}
		t.Logf("%d nodes unsynced 90s into the partition", unsynced)
	})
}

// A physical clock that is stepped, the reference's or a follower's,
// moves neither cluster time nor any bound.
func TestSimPhysicalClockSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w := skewed(t, 5)
		waitSynced(t, w, 30*time.Second)
		var ref, follower string
		for _, r := range w.Observe() {
			if r.Stats.IsReference {
				ref = r.Node
			} else {
				follower = r.Node
			}
		}
		before := w.Check()
		c.SetSkew(ref, 3*time.Second)
		c.SetSkew(follower, -7*time.Second)
		k := observe(w, 10*time.Second)
		report(t, k)
		if k.Unsynced != before.Unsynced {
			t.Errorf("%d readings unsynced after the steps, want none", k.Unsynced-before.Unsynced)
		}
	})
}

// A node that campaigned unsynced while cut off (its grace ran out) must
// not take over a running cluster's time when it comes back, even though
// it outranks the reference: cluster time never jumps.
func TestSimUnsyncedNodeDoesNotImposeItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := sim.Start(ctx, sim.Options{Nodes: 5, Seed: 5, Profile: cluster.Local})
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range c.Names() {
			c.SetSkew(name, time.Duration(i-2)*3*time.Second) // n5 runs 6 s ahead
		}
		c.Partition([]string{"n5"}, []string{"n1", "n2", "n3", "n4"})
		w, err := sim.StartClocks(c)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			w.Close()
			c.Close()
			time.Sleep(10 * time.Second)
		}()
		observe(w, 10*time.Second) // n1-n4 sync on n4; n5 campaigns alone
		c.Heal()
		report(t, observe(w, 20*time.Second))
	})
}
