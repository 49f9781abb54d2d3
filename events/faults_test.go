package events_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// Every node publishes and subscribes while the voters' leader crashes
// and restarts, a partition cuts two nodes off and heals, and a node is
// replaced by a rolling restart of another; the recorded history holds
// S1 and S2 (check.CheckEvents).
func TestEventsUnderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 5, 6)
		w, err := sim.StartEvents(c, "faults", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		lead := votersLeader(c)
		c.Crash(lead)
		time.Sleep(3 * time.Second)
		restart(t, c, lead)
		time.Sleep(3 * time.Second)
		c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		time.Sleep(4 * time.Second)
		c.Heal()
		time.Sleep(3 * time.Second)
		for _, n := range []string{"n3", "n4"} { // a rolling restart of two
			c.Crash(n)
			restart(t, c, n)
			time.Sleep(2 * time.Second)
		}
		time.Sleep(3 * time.Second)
		w.Close()
		v := check.CheckEvents(w.History())
		t.Logf("%d published (%d failed), %d delivered, %d truncations; publish p50 %v, p99 %v", v.Published, v.Failed, v.Delivered, v.Truncation, v.P50, v.P99)
		if v.S1.N+v.S2.N > 0 {
			t.Errorf("S1: %d %q\nS2: %d %q", v.S1.N, v.S1.First, v.S2.N, v.S2.First)
		}
		if v.Published < 500 || v.Delivered < 5*v.Published/2 {
			t.Errorf("%d published, %d delivered: the workload did not run", v.Published, v.Delivered)
		}
	})
}

func votersLeader(c *sim.Cluster) string {
	for _, n := range c.Nodes() {
		svc, release := voters.Acquire(n)
		role := svc.Info().Role
		release()
		if role == "leader" {
			return n.Name()
		}
	}
	return ""
}

func restart(t *testing.T, c *sim.Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Restart(ctx, name); err != nil {
		t.Fatalf("restart %s: %v", name, err)
	}
}

// The voters' leader stops answering for longer than a Publish's try
// (its network is paused): the publishers' requests wait in it while
// they try again elsewhere, and it applies them when it comes back.
// Each acknowledged event must still be in the log once (S1 judges a
// payload at two offsets), and none lost.
func TestPublishOnceAcrossRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := simtest.Start(t, 5, 8)
		w, err := sim.StartEvents(c, "retries", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			time.Sleep(3 * time.Second)
			c.Pause(votersLeader(c), 2500*time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		w.Close()
		v := check.CheckEvents(w.History())
		t.Logf("%d published (%d failed), %d delivered", v.Published, v.Failed, v.Delivered)
		if v.S1.N+v.S2.N > 0 {
			t.Errorf("S1: %d %q\nS2: %d %q", v.S1.N, v.S1.First, v.S2.N, v.S2.First)
		}
		if v.Published < 500 {
			t.Errorf("%d published: the workload did not run", v.Published)
		}
	})
}
