// Package chaos runs a seeded chaos test of gossipsync on a simulated
// network (package sim): it starts a cluster, runs the built-in
// workloads on every node (an election campaign, a clock on a skewed,
// drifting physical clock, lock clients writing through a Fence, task
// submitters, an event stream every node publishes to and reads, and a
// consumer group with a member on every node), makes
// the faults of a scenario one per phase (cuts of the network, crashes,
// pauses, clock jumps, packet loss, nodes leaving, joining or redeployed
// in turn), heals everything, and judges every
// property from what the workloads recorded. gossipsync sim is this
// package with flags; a test can run it too, inside a testing/synctest
// bubble, where a minute of faults takes seconds (Run).
//
// A user's own workload (Workload) runs beside the built-in ones: it
// starts its clients on the cluster's nodes, follows crashes and
// restarts through the cluster's hooks, and judges its own properties
// (Judge), which join the report's table, its problems and its exit
// status; a Timeliner also draws rows of its own in the timeline. The
// records it keeps can be judged with package sim/check's checkers
// (CheckLocks, CheckElection, CheckTasks, CheckEvents, CheckGroup) where
// they fit. The built-in
// workloads do not go through the Workload interface: some of their
// properties (E4, L4, M, V2) are judged against the schedule and the
// measurements of the run, which a Workload's Check does not see.
//
// The same Seed gives the same fault schedule, physical clocks and
// workload choices; timings still vary with the machine outside a
// bubble. One Report carries the verdicts (Properties, Problems, OK)
// and the figures behind them, in exported fields that are also its JSON
// form (WriteJSON; a report read back with encoding/json is the same
// value, without the records the page draws), its table (String) and a
// timeline page (WriteHTML): one
// self-contained file (inline SVG, CSS and a few lines of script,
// nothing fetched) with the faults as bands, the election leases, the
// voter configuration, the lock holds, each node's clock error with its
// uncertainty, each node's tasks in flight and Publishes, the event
// subscriptions' lag, and the user workloads' rows.
package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Options is what a run does. The zero value runs the default: scenario
// all, 5 nodes, 30 s of faults, seed 0, the scenario's clocks.
type Options struct {
	Scenario string        // the scenario's name (Scenarios); "" = "all"
	Nodes    int           // 3 to MaxNodes; 0 = 5
	Duration time.Duration // how long to make faults, at least MinDuration; 0 = 30 s
	Seed     int64         // of the fault schedule, the network, the clocks and the key
	Clocks   *Clocks       // the nodes' physical clocks; nil = the scenario's
	Unsafe   bool          // the lock workload runs without quorum (L1-L3 break) and the event readers do not keep their place (S1, S2 break)
	// Disk gives every node a DataDir (cluster.Config.DataDir), in a
	// temporary directory removed at the end: a restarted node goes on
	// as the voter member it was, from its directory, instead of
	// joining again under a new Raft ID.
	Disk   bool
	Logger *slog.Logger // the nodes' logs; nil = none
}

// Clocks bounds how far the nodes' physical clocks are off: each is
// skewed by up to ±Skew (0 to MaxSkew) and runs fast or slow by up to
// ±Drift ppm (0 to MaxDrift), drawn from the seed. The skew and the
// drift reach every node's leases and schedules (cluster.Clock); the
// clock reference's jumps reach only the cluster clocks. Past 1000 ppm
// the cluster clocks are told the drift (clock.MaxDrift, at most 10 %);
// the leases assume any two clocks' rates within about 10 % of each
// other, which ±5 % keeps and more may not (the drift scenario).
type Clocks struct {
	Skew  time.Duration
	Drift float64
}

// Limits of Options.
const (
	MaxNodes    = maxSimSize   // the simulation runs in real time
	MinDuration = minPhase     // one phase
	MaxSkew     = maxSkewFlag  // of Clocks.Skew
	MaxDrift    = maxDriftFlag // ppm, of Clocks.Drift: ±20 %, twice the bound the leases assume
)

// OptionError is an Options field out of its range.
type OptionError struct {
	Field   string // "Nodes", "Duration", "Skew", "Drift" or "Scenario"
	Problem string // e.g. "is 2; want 3 to 200 (...)"
}

func (e *OptionError) Error() string { return "chaos: " + e.Field + " " + e.Problem }

// Check returns an *OptionError for the first field out of range.
func (o Options) Check() error {
	_, err := o.config()
	return err
}

// config resolves o's defaults and checks it.
func (o Options) config() (simConfig, error) {
	cfg := simConfig{Nodes: o.Nodes, Duration: o.Duration, Seed: o.Seed, Unsafe: o.Unsafe, Disk: o.Disk, Logger: o.Logger}
	name := o.Scenario
	if name == "" {
		name = defaultScenario
	}
	var err error
	if cfg.Scenario, err = lookupScenario(name); err != nil {
		return cfg, &OptionError{"Scenario", fmt.Sprintf("is %q; want one of %s", name, strings.Join(ScenarioNames(), ", "))}
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 5
	}
	if cfg.Duration == 0 {
		cfg.Duration = 30 * time.Second
	}
	cfg.Skew, cfg.Drift = cfg.Scenario.Skew, cfg.Scenario.Drift
	cfg.Disk = cfg.Disk || cfg.Scenario.Disk
	if o.Clocks != nil {
		cfg.Skew, cfg.Drift = o.Clocks.Skew, o.Clocks.Drift
	}
	switch {
	case cfg.Nodes < 3 || cfg.Nodes > maxSimSize:
		return cfg, &OptionError{"Nodes", fmt.Sprintf("is %d; want 3 to %d (a partition needs a majority and a minority)", cfg.Nodes, maxSimSize)}
	case scaleOnly(cfg.Scenario) && scalePeak(cfg.Nodes) > maxSimSize:
		return cfg, &OptionError{"Nodes", fmt.Sprintf("is %d; the scale scenario grows the cluster to 1.5 times that, so want 3 to %d", cfg.Nodes, maxSimSize*2/3)}
	case cfg.Duration < minPhase:
		return cfg, &OptionError{"Duration", fmt.Sprintf("is %v; want at least %v (one phase)", cfg.Duration, minPhase)}
	case cfg.Skew < 0 || cfg.Skew > maxSkewFlag:
		return cfg, &OptionError{"Skew", fmt.Sprintf("is %v; want 0 to %v", cfg.Skew, maxSkewFlag)}
	case !(cfg.Drift >= 0 && cfg.Drift <= maxDriftFlag): // also catches NaN
		return cfg, &OptionError{"Drift", fmt.Sprintf("is %v ppm; want 0 to %d (±%g %%)", cfg.Drift, maxDriftFlag, float64(maxDriftFlag)/1e4)}
	}
	return cfg, nil
}

// Simulate runs the chaos test o describes with the user's workloads ws
// beside the built-in ones, printing its progress and then the report's
// table to w (nil: nowhere). The workloads' properties join the table
// (Report.User). It returns an error only if o is out of range or the
// cluster or a workload could not start. When ctx ends, the schedule
// stops early; the final heal and the report still happen
// (Report.Interrupted).
func Simulate(ctx context.Context, w io.Writer, o Options, ws ...Workload) (*Report, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, err
	}
	cfg.User = ws
	if w == nil {
		w = io.Discard
	}
	return simulate(ctx, w, cfg)
}

// ScenarioInfo describes a scenario.
type ScenarioInfo struct {
	Name    string
	Summary string
	Clocks  Clocks // its physical clocks, unless Options.Clocks is set
}

// Scenarios describes the scenarios, in the order -list prints them.
func Scenarios() []ScenarioInfo {
	out := make([]ScenarioInfo, len(scenarios))
	for i, sc := range scenarios {
		out[i] = ScenarioInfo{Name: sc.Name, Summary: sc.Summary, Clocks: Clocks{Skew: sc.Skew, Drift: sc.Drift}}
	}
	return out
}

// ScenarioNames returns the scenarios' names.
func ScenarioNames() []string { return scenarioNames() }

// ListScenarios writes the scenarios' descriptions, as gossipsync sim
// -list prints them.
func ListScenarios(w io.Writer) { listScenarios(w) }
