package chaos

import (
	"context"
	"fmt"

	"github.com/gossipsync/gossipsync/sim"
)

// Workload is a user's own workload: it runs on the simulated cluster
// beside the built-in ones while the faults are made, and judges its
// own properties from what it recorded. Run and Simulate call Start
// once the cluster has formed (before the built-in workloads start), Stop after
// the final heal (every crashed node restarted), and then Check.
//
// A workload follows crashes and restarts through c.AddHooks: a crashed
// node's services are gone (OnCrash), and a restarted node is a new
// *cluster.Node that needs its own (OnStart). Nodes that leave or join
// in the churn scenarios come and go the same way. Its clients see the
// faults as real ones: calls that fail, hang until their deadline, or
// time out, and leases lost.
type Workload interface {
	// Start begins the workload on every node of c. ctx ends when the
	// run is interrupted; an error stops the run before any fault.
	Start(ctx context.Context, c *sim.Cluster) error
	// Stop ends the workload and returns once everything it started
	// has.
	Stop()
	// Check judges the workload's properties (see Judge), in the order
	// the report's table shows them.
	Check() []Property
}

// Verdicts of a Property.
const (
	Held         = held
	Broken       = broken
	NotExercised = notExercised // the run gave the property nothing to judge
)

// Judge returns a property with the verdict of what a checker found:
// Broken if it found violations (the first few are shown), else Held,
// or NotExercised if the run gave it nothing to judge.
func Judge(id, name string, exercised bool, found []string, figures string) Property {
	return judge(id, name, exercised, violations(found), figures)
}

// startUserWorkloads starts the user's workloads in order; if one fails, it
// stops those started and returns its error.
func startUserWorkloads(ctx context.Context, c *sim.Cluster, ws []Workload) error {
	for i, w := range ws {
		if err := w.Start(ctx, c); err != nil {
			for _, started := range ws[:i] {
				started.Stop()
			}
			return fmt.Errorf("chaos: workload %d (%T): %w", i, w, err)
		}
	}
	return nil
}

// stopUserWorkloads stops the user's workloads and returns their
// properties.
func stopUserWorkloads(ws []Workload) []Property {
	for _, w := range ws {
		w.Stop()
	}
	var out []Property
	for _, w := range ws {
		for _, p := range w.Check() {
			p.User = true
			out = append(out, p)
		}
	}
	return out
}
