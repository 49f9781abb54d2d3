package taskpool_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/check"
)

// TestSimChurn runs the simulation's task workload (submitters Running a
// short task on every node, some with shared idempotency ids) while
// nodes crash and restart, join and leave: no Run of a living submitter
// is lost (T1), none runs an id twice at once on one worker (T2), and
// every Run returns by its deadline (T3).
func TestSimChurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := sim.Start(ctx, sim.Options{Nodes: 5, Seed: 4, Profile: cluster.Local})
		if err != nil {
			t.Fatalf("sim.Start: %v", err)
		}
		t.Cleanup(func() {
			c.Close()
			time.Sleep(10 * time.Second) // let memberlist's in-flight probes end
		})
		w, err := sim.StartTasks(c, sim.TaskOptions{Seed: 4, Deadline: 2 * time.Second, Timeout: 500 * time.Millisecond, Tick: -1})
		if err != nil {
			t.Fatalf("StartTasks: %v", err)
		}
		step := func(what string, f func() error) {
			time.Sleep(time.Second)
			if err := f(); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		restart := func(name string) func() error {
			return func() error { _, err := c.Restart(ctx, name); return err }
		}
		crash := func(name string) func() error { return func() error { c.Crash(name); return nil } }
		step("crash n2", crash("n2"))
		step("restart n2", restart("n2"))
		step("add", func() error { _, err := c.Add(ctx); return err })
		step("crash n3", crash("n3"))
		step("leave n4", func() error { return c.Leave(ctx, "n4") })
		step("restart n3", restart("n3"))
		step("crash n6", crash("n6"))
		step("restart n4", restart("n4"))
		step("restart n6", restart("n6"))
		step("crash n1", crash("n1"))
		step("restart n1", restart("n1"))
		time.Sleep(3 * time.Second)
		w.Close()

		v := check.CheckTasks(w.History())
		t.Logf("%d submitted, %d done, failed %v, %d with the submitter crashed; %d executions, %d duplicated; T2 across workers %d; p50 %v p99 %v",
			v.Submitted, v.Done, v.Failed, v.Died, v.Executions, v.Duplicated, v.T2Cross.N, v.P50, v.P99)
		for _, p := range []struct {
			name string
			v    check.Violations
		}{{"T1 (lost)", v.T1}, {"T2 (concurrent on one worker)", v.T2}, {"T3 (past deadline)", v.T3}} {
			if p.v.N > 0 {
				t.Errorf("%s: %d, first %v", p.name, p.v.N, p.v.First[:min(len(p.v.First), 3)])
			}
		}
		if v.Done < v.Submitted/2 {
			t.Errorf("only %d of %d Runs returned a result", v.Done, v.Submitted)
		}
		if h := w.History(); len(h.Failures) > 0 {
			t.Errorf("workload errors: %v", h.Failures)
		}
	})
}
