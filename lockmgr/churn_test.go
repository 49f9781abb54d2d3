package lockmgr_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// Nodes leave gracefully, rejoin and new ones join while clients on
// every node contend on three ids; the lock checker finds no violation
// of L1-L3 and porcupine finds the history linearizable.
func TestSimChurnDuringContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := sim.Start(ctx, sim.Options{Nodes: 5, Seed: 2, Profile: cluster.Local})
		if err != nil {
			t.Fatalf("sim.Start: %v", err)
		}
		t.Cleanup(func() {
			c.Close()
			time.Sleep(10 * time.Second) // let memberlist's in-flight probes end
		})
		w, err := sim.StartLocks(c, sim.LockOptions{TTL: testTTL, LockDelay: testDelay, MaxHold: testTTL / 2, Seed: 2})
		if err != nil {
			t.Fatalf("StartLocks: %v", err)
		}
		time.Sleep(2 * time.Second)
		steps := []struct {
			what string
			do   func() error
		}{
			{"n2 leaves", func() error { return c.Leave(ctx, "n2") }},
			{"n6 joins", func() error { _, err := c.Add(ctx); return err }},
			{"n4 leaves", func() error { return c.Leave(ctx, "n4") }},
			{"n2 rejoins", func() error { _, err := c.Restart(ctx, "n2"); return err }},
			{"n1 leaves", func() error { return c.Leave(ctx, "n1") }},
			{"n7 joins", func() error { _, err := c.Add(ctx); return err }},
			{"n4 rejoins", func() error { _, err := c.Restart(ctx, "n4"); return err }},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.what, err)
			}
			time.Sleep(2 * time.Second)
		}
		w.Close()
		h := w.History()
		v := check.CheckLocks(h)
		t.Logf("%d grants, %.1f/s, acquire p50 %v p99 %v, errors %v, %s", v.Grants, v.PerSecond, v.P50, v.P99, h.Errors, v.Porcupine)
		for _, p := range []struct {
			name string
			v    check.Violations
		}{{"L1", v.L1}, {"L2", v.L2}, {"L3", v.L3}} {
			for _, s := range p.v.First {
				t.Errorf("%s: %s", p.name, s)
			}
		}
		if v.NotLinearizable {
			t.Errorf("porcupine: %s", v.Porcupine)
		}
		if v.Grants < 20 {
			t.Errorf("%d grants; want the clients to make progress through the churn", v.Grants)
		}
		if v.Stale > 0 {
			t.Errorf("%d fresh holders' writes refused by the Fence", v.Stale)
		}
	})
}
