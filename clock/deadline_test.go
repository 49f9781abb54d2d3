package clock_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// syncedClocks starts a Clock on each of 3 nodes, waits until all read
// without error, then turns on 20 % loss and 1-5 ms delay. It returns
// the reference's name and a follower's.
func syncedClocks(t *testing.T) (c *sim.Cluster, w *sim.ClockWorkload, ref, follower string) {
	t.Helper()
	c = simtest.Start(t, 3, 6)
	w, err := sim.StartClocks(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	waitSynced(t, w, 30*time.Second)
	for _, r := range w.Observe() {
		if r.Stats.IsReference {
			ref = r.Node
		} else {
			follower = r.Node
		}
	}
	if ref == "" || follower == "" {
		t.Fatalf("reference %q, follower %q: want both", ref, follower)
	}
	c.SetLoss(0.2)
	c.SetDelay(time.Millisecond, 5*time.Millisecond)
	return c, w, ref, follower
}

// TestSimReadingsDoNotWaitForTheNetwork reads a follower's clock every
// 7 ms for 2 s while the reference is lossy, cut off or paused, so that
// a sample is outstanding at many of the reads: no reading may take any
// virtual time (in a bubble, waiting for the network would), and all
// must succeed, the drift allowance of 2 s being far below
// MaxUncertainty. A reading that waited on a channel for a sample fails
// here with the time it took; one that waited on a mutex held across a
// network call would stall the bubble instead (a mutex wait is not
// durable, so virtual time stops) and show as a test timeout with Now
// in the goroutine dump. Both were checked with a mutant.
func TestSimReadingsDoNotWaitForTheNetwork(t *testing.T) {
	tests := []struct {
		name string
		cut  func(c *sim.Cluster, ref, follower string)
	}{
		{"loss", func(*sim.Cluster, string, string) {}},
		{"reference partitioned", func(c *sim.Cluster, ref, follower string) {
			c.Partition([]string{ref}, []string{follower})
		}},
		{"reference paused", func(c *sim.Cluster, ref, _ string) { c.Pause(ref, 3*time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, w, ref, follower := syncedClocks(t)
				clk := w.Clock(follower)
				tt.cut(c, ref, follower)
				before := clk.Stats().Samples
				for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(7 * time.Millisecond) {
					start := time.Now()
					_, errNow := clk.Now()
					_, errIv := clk.Interval()
					clk.Timestamp()
					clk.Stats()
					if took := time.Since(start); took != 0 {
						t.Fatalf("readings took %v of virtual time, want none", took)
					}
					if errNow != nil || errIv != nil {
						t.Fatalf("Now: %v, Interval: %v; want both to answer", errNow, errIv)
					}
				}
				s := clk.Stats()
				t.Logf("samples taken meanwhile: %d; uncertainty now %v", s.Samples-before, s.Uncertainty)
				c.Heal()
			})
		})
	}
}

// TestSimCloseBound closes a follower's Clock and the reference's while
// each is cut off from the other nodes, under loss. A follower's Close
// waits for nothing on the network; the reference's waits at most the
// election lease TTL (1 s on Local) for its resignation to reach the
// voters it cannot reach.
func TestSimCloseBound(t *testing.T) {
	for _, who := range []string{"follower", "reference"} {
		t.Run(who, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, w, ref, follower := syncedClocks(t)
				name := map[string]string{"follower": follower, "reference": ref}[who]
				var others []string
				for _, n := range c.Names() {
					if n != name {
						others = append(others, n)
					}
				}
				c.Partition([]string{name}, others)
				time.Sleep(50 * time.Millisecond) // a sample or renewal is outstanding
				clk := w.Clock(name)
				start := time.Now()
				if err := clk.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				took := time.Since(start)
				bound := election.DefaultLeaseTTL(cluster.Local) + time.Millisecond
				if took > bound {
					t.Errorf("Close took %v, want at most %v", took, bound)
				}
				t.Logf("Close took %v", took)
				if _, err := clk.Now(); err != clock.ErrClosed {
					t.Errorf("Now after Close = %v, want ErrClosed", err)
				}
				c.Heal()
			})
		})
	}
}
