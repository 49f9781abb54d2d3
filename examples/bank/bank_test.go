package main

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leakcheck"
	"github.com/gossipsync/gossipsync/sim/chaos"
)

// TestMain fails the run if goroutines outlive the tests, and runs them
// on one P under the race detector (leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }

// The transfers keep the total balance under every scenario, judged
// beside the built-in properties, each run in a synctest bubble: 10 s of
// faults take a few seconds.
func TestTransfersSurviveChaos(t *testing.T) {
	for _, name := range chaos.ScenarioNames() {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newTransfers(false)
				rep := chaos.Run(t, chaos.Options{Scenario: name, Nodes: 5, Seed: 7, Duration: 10 * time.Second}, w)
				if rep.Broken() {
					t.Errorf("broken: %q", rep.Problems)
				}
				if len(rep.User()) != 1 || rep.User()[0].Verdict != chaos.Held {
					t.Errorf("B1: %+v; want held", rep.User())
				}
				t.Logf("%s: B1 %s (%s)", name, rep.User()[0].Verdict, rep.User()[0].Figures)
				time.Sleep(10 * time.Second) // memberlist's and serf's goroutines end after Shutdown
			})
		})
	}
}

// Without quorum and without the fence, a partition lets both sides
// transfer at once, and B1 breaks: the checker can fail.
func TestUnsafeTransfersBreak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newTransfers(true)
		rep := chaos.Run(t, chaos.Options{Scenario: "partition", Nodes: 5, Seed: 3, Duration: 10 * time.Second, Unsafe: true}, w)
		if len(rep.User()) != 1 || rep.User()[0].Verdict != chaos.Broken || !rep.Broken() {
			t.Errorf("B1: %+v; want broken, and the report broken", rep.User())
		}
		t.Logf("unsafe: B1 %s (%s)", rep.User()[0].Verdict, rep.User()[0].Figures)
		time.Sleep(10 * time.Second)
	})
}
