package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

const simUsage = `usage: gossipsync sim [flags]

Runs a chaos test of gossipsync on a simulated in-memory network (no
sockets) and reports whether its guarantees held.

It starts -nodes nodes, each with a physical clock off by a seeded skew
(up to the -skew flag) and drift (up to -drift ppm). On every node it
runs four workloads at once: an election campaign in one group, a clock
synchronized to the cluster's clock reference, lock clients contending
on 3 locks and writing through a fencing Fence, and task submitters
plus a leader-only schedule.

For -duration it then makes the faults of a scenario, one per phase of
3-5 s: cuts of the network, crashes, pauses, clock jumps, packet loss,
nodes leaving, joining or redeployed in turn (-list describes them; the
default, all, draws from each). After each fault it measures how long the
cluster takes to converge, to elect a new leader and to follow a new
clock reference. At the end it heals everything and prints one table:
each property with its verdict (held, BROKEN, or not exercised when the
run gave it nothing to judge) and the figures behind it.

The same -seed gives the same fault schedule, physical clocks and
workload choices (the timings still vary with the machine); the report
prints the seed and the command that replays the run.

Properties checked:
  M   every node's view re-converges after the final heal
  E1  at most one leader per term
  E2  terms strictly increase
  E3  leader leases never overlap in time
  C1  every clock interval contains the reference's time
  C2  Now never goes backwards on a node
  C3  two nodes agree within the sum of their uncertainties
  L1  no two grants of a lock carry one token
  L2  tokens strictly increase in grant order
  L3  no two holds of a lock overlap in time
      (also: porcupine finds the lock history linearizable, and the
      Fence rejects a paused holder's late write after a newer grant)
  T1  no Run of a living submitter is lost
  T2  one worker never runs an idempotency id twice at once
  T3  every Run returns by its deadline
  E4  after a leader crash, a new leader within detection+lease+a round
  L4  after a heal, a lock is granted within detection + lock delay + TTL + an election round
  V2  tokens and terms keep increasing across restarts, idle ids too

Exit status: 0 if the cluster re-converged and every property held;
1 if not, or if the simulation could not start; 2 on a bad flag.

-unsafe runs the locks without quorum, so they stay available on both
sides of a partition and break L1-L3: the report shows the violations
and the exit status is 1. It proves the checkers can fail.

-html writes one self-contained page with the run on a time axis: the
faults as bands, the election leases, the voter configuration, the lock
holds, each node's clock error with its uncertainty, and each node's
tasks in flight.

flags:
`

// errList is what parseSimFlags returns for -list.
var errList = errors.New("sim: -list")

// parseSimFlags parses the sim flags. On a bad flag it prints the problem
// and the usage to stderr and returns an error; on -h, flag.ErrHelp.
func parseSimFlags(args []string, stderr io.Writer) (simConfig, error) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), simUsage)
		fs.PrintDefaults()
	}
	var cfg simConfig
	fs.IntVar(&cfg.Nodes, "nodes", 5, fmt.Sprintf("number of nodes, 3 to %d", maxSimSize))
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to make faults, at least "+minPhase.String())
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the fault schedule, the network and the secret key")
	name := fs.String("scenario", defaultScenario, "the `name` of the scenario to run: "+strings.Join(scenarioNames(), ", "))
	list := fs.Bool("list", false, "describe the scenarios and exit")
	fs.DurationVar(&cfg.Skew, "skew", defaultSkew, "physical clocks are off by up to ± this (0 = none; default: the scenario's, 1h for skew)")
	fs.Float64Var(&cfg.Drift, "drift", defaultDrift, fmt.Sprintf("physical clocks run fast or slow by up to ± this many ppm, whole ppm, at most %d (0 = none; default: the scenario's, %d for skew)", maxDriftFlag, largeDrift))
	fs.BoolVar(&cfg.Unsafe, "unsafe", false, "run the lock workload without quorum (lockmgr.Quorum(false)): expect L1-L3 violations and exit status 1")
	fs.StringVar(&cfg.JSON, "json", "", "also write the report as JSON to this `file`")
	fs.StringVar(&cfg.HTML, "html", "", "also write a timeline of the run as an HTML page to this `file`")
	verbose := fs.Bool("v", false, "print the nodes' debug logs to stderr")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this `file` (for go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return cfg, err // flag printed the problem and the usage
	}
	if *list {
		return cfg, errList
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	err := checkSimFlags(fs, &cfg, *name)
	if err == nil && cfg.JSON != "" {
		// Fail now, not after the whole run.
		if cfg.jsonOut, err = os.Create(cfg.JSON); err != nil {
			err = fmt.Errorf("-json: cannot create the report file: %v", err)
		}
	}
	if err == nil {
		err = openHTML(&cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync sim: %v\n\n", err)
		fs.Usage()
	}
	return cfg, err
}

// checkSimFlags validates what flag could not, and sets the scenario
// named name and, unless given, its clocks.
func checkSimFlags(fs *flag.FlagSet, cfg *simConfig, name string) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.Scenario, err = lookupScenario(name); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["skew"] {
		cfg.Skew = cfg.Scenario.Skew
	}
	if !given["drift"] {
		cfg.Drift = cfg.Scenario.Drift
	}
	if cfg.Nodes < 3 || cfg.Nodes > maxSimSize {
		return fmt.Errorf("-nodes is %d; want 3 to %d (a partition needs a majority and a minority)", cfg.Nodes, maxSimSize)
	}
	if scaleOnly(cfg.Scenario) {
		if err := checkScaleSize(cfg.Nodes); err != nil {
			return err
		}
	}
	if cfg.Duration < minPhase {
		return fmt.Errorf("-duration is %v; want at least %v (one phase)", cfg.Duration, minPhase)
	}
	if cfg.Skew < 0 || cfg.Skew > maxSkewFlag {
		return fmt.Errorf("-skew is %v; want 0 to %v", cfg.Skew, maxSkewFlag)
	}
	if !(cfg.Drift >= 0 && cfg.Drift <= maxDriftFlag) { // also catches NaN
		return fmt.Errorf("-drift is %v ppm; want 0 to %d (the clocks assume each physical clock within ±%d ppm)", cfg.Drift, maxDriftFlag, maxDriftFlag)
	}
	return nil
}
