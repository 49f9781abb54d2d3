// Bank shows chaos testing of a service of your own: money transfers
// between the accounts of a ledger, each under the lock "ledger" and
// fenced by its token, run by a client on every node of a simulated
// cluster while the faults of every scenario are made (package
// sim/chaos). Its property B1, the total balance unchanged, is judged
// beside the built-in ones (elections, clocks, locks, tasks).
//
//	go run ./examples/bank                    # every scenario, 30 s of faults each
//	go run ./examples/bank -scenario crash -duration 10s
//	go run ./examples/bank -scenario partition -unsafe   # locks without quorum, no fence: B1 breaks
//
// The same workload runs from go test in a testing/synctest bubble,
// where a scenario takes seconds: see bank_test.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/sim/chaos"
)

func main() {
	scenario := flag.String("scenario", "", "run only this scenario (default: every one)")
	nodes := flag.Int("nodes", 5, "nodes in the cluster")
	duration := flag.Duration("duration", 30*time.Second, "faults per scenario")
	seed := flag.Int64("seed", 1, "seed of the schedules")
	unsafe := flag.Bool("unsafe", false, "locks without quorum and no fence: expect B1 to break")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	names := chaos.ScenarioNames()
	if *scenario != "" {
		if !slices.Contains(names, *scenario) {
			fmt.Fprintf(os.Stderr, "bank: unknown scenario %q (want one of %v)\n", *scenario, names)
			os.Exit(2)
		}
		names = []string{*scenario}
	}
	status := 0
	for _, name := range names {
		opts := chaos.Options{Scenario: name, Nodes: *nodes, Duration: *duration, Seed: *seed, Unsafe: *unsafe}
		rep, err := chaos.Simulate(ctx, nil, opts, newTransfers(*unsafe))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bank: %s: %v\n", name, err)
			os.Exit(1)
		}
		for _, p := range rep.User() {
			fmt.Printf("%-10s %s %s: %s (%s)\n", name, p.ID, p.Name, p.Verdict, p.Figures)
		}
		for _, p := range rep.Problems {
			fmt.Printf("%-10s %s\n", name, p)
			status = 1
		}
		if ctx.Err() != nil {
			break
		}
	}
	os.Exit(status)
}
