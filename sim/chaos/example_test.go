package chaos_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/chaos"
)

// counter is the smallest workload: it counts the crashes it sees and
// judges nothing broken.
type counter struct{ crashes atomic.Int32 }

func (w *counter) Start(_ context.Context, c *sim.Cluster) error {
	c.AddHooks(sim.Hooks{OnCrash: func(string) { w.crashes.Add(1) }})
	return nil
}

func (w *counter) Stop() {}

func (w *counter) Check() []chaos.Property {
	return []chaos.Property{chaos.Judge("X1", "crashes were seen", w.crashes.Load() > 0, nil, fmt.Sprint(w.crashes.Load(), " crashes"))}
}

// Simulate runs a scenario with a workload of your own beside the
// built-in ones. In a test, chaos.Run inside synctest.Test does the
// same in virtual time (see examples/bank).
func ExampleSimulate() {
	rep, err := chaos.Simulate(context.Background(), nil, chaos.Options{Scenario: "crash", Duration: 10 * time.Second, Seed: 7}, &counter{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range rep.User() {
		fmt.Println(p.ID, p.Verdict, p.Figures)
	}
	if rep.Broken() {
		fmt.Println(rep.Problems)
	}
}
