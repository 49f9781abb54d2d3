package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/sim/chaos"
)

const simUsage = `usage: gossipsync sim [flags]

Runs a chaos test of gossipsync on a simulated in-memory network (no
sockets) and reports whether its guarantees held.

It starts -nodes nodes, each with a physical clock off by a seeded skew
(up to the -skew flag) and drift (up to -drift ppm), which its leases,
timers and schedules run on as well as its cluster clock. On every node it
runs five workloads at once: an election campaign in one group, a clock
synchronized to the cluster's clock reference, lock clients contending
on 3 locks and writing through a fencing Fence, task submitters plus a
leader-only schedule, and an event stream every node publishes to and
reads.

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
  S1  every subscriber of the event stream sees one order, no gap, no
      duplicate
  S2  no event whose Publish returned is lost
  S3  a consumer group hands an event to one member at a time, again
      after AckWait, until it is acked (or handed out MaxDeliveries times)
  E4  after a leader crash, a new leader within detection+lease+a round
      (from the voters' new leader on, if the crashed node led them too)
  L4  after a heal, a lock is granted within detection + lock delay + TTL + an election round
  V2  tokens and terms keep increasing across restarts, idle ids too

Exit status: 0 if the cluster re-converged and every property held;
1 if not, or if the simulation could not start; 2 on a bad flag.

-unsafe runs the locks without quorum, so they stay available on both
sides of a partition and break L1-L3, and makes the event readers
consumers that do not keep their place (after an error, or 500 ms with
nothing, they subscribe again at Latest), so a reader held back by a
fault skips events and breaks S1 and S2: the report shows the
violations and the exit status is 1. It proves the checkers can fail.

-disk gives every node a DataDir (cluster.Config.DataDir) in a
temporary directory, removed at the end: a node restarted by a crash,
a rollout or the outage scenario goes on as the voter member it was,
from its directory, instead of joining again under a new Raft ID.

-html writes one self-contained page with the run on a time axis: the
faults as bands, the election leases, the voter configuration, the lock
holds, each node's clock error with its uncertainty, each node's
tasks in flight and Publishes, and the event subscriptions' lag (red
where one skipped offsets).

flags:
`

// errList is what parseSimFlags returns for -list.
var errList = errors.New("sim: -list")

// simConfig is what the sim flags ask for: the run's options and where
// its outputs go.
type simConfig struct {
	opts       chaos.Options
	CPUProfile string   // -cpuprofile: where to write a CPU profile; "" = nowhere
	JSON       string   // -json: where to write the report as JSON; "" = nowhere
	jsonOut    *os.File // the file JSON names, created by parseSimFlags
	HTML       string   // -html: where to write the timeline page; "" = nowhere
	htmlOut    *os.File // the file HTML names, created by parseSimFlags
}

// parseSimFlags parses the sim flags. On a bad flag it prints the problem
// and the usage to stderr and returns an error; on -h, flag.ErrHelp.
func parseSimFlags(args []string, stderr io.Writer) (simConfig, error) {
	fs := newFlagSet("sim", simUsage, stderr)
	var cfg simConfig
	var clocks chaos.Clocks
	fs.IntVar(&cfg.opts.Nodes, "nodes", 5, fmt.Sprintf("number of nodes, 3 to %d", chaos.MaxNodes))
	fs.DurationVar(&cfg.opts.Duration, "duration", 30*time.Second, "how long to make faults, at least "+chaos.MinDuration.String())
	fs.Int64Var(&cfg.opts.Seed, "seed", 1, "seed of the fault schedule, the network and the secret key")
	fs.StringVar(&cfg.opts.Scenario, "scenario", "all", "the `name` of the scenario to run: "+strings.Join(chaos.ScenarioNames(), ", "))
	list := fs.Bool("list", false, "describe the scenarios and exit")
	fs.DurationVar(&clocks.Skew, "skew", 5*time.Second, "physical clocks are off by up to ± this (0 = none; default: the scenario's, 1h for skew)")
	fs.Float64Var(&clocks.Drift, "drift", 200, fmt.Sprintf("physical clocks run fast or slow by up to ± this many ppm, whole ppm, at most %d (0 = none; default: the scenario's, 1000 for skew, 40000 for drift; past 1000 the cluster clocks are told, and past about 50000 the leases' bound is left)", chaos.MaxDrift))
	fs.BoolVar(&cfg.opts.Unsafe, "unsafe", false, "run the lock workload without quorum (lockmgr.Quorum(false)) and the event readers without keeping their place: expect L1-L3, S1 and S2 violations and exit status 1")
	fs.BoolVar(&cfg.opts.Disk, "disk", false, "give every node a DataDir (in a temporary directory, removed at the end): a restarted node goes on as the voter member it was")
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
		cfg.opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	err := checkSimFlags(fs, &cfg, clocks)
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

// checkSimFlags validates what flag could not: the scenario's name, and
// the options' ranges (chaos.Options.Check), as flag names. -skew and
// -drift, if either is given, replace the scenario's clocks.
func checkSimFlags(fs *flag.FlagSet, cfg *simConfig, clocks chaos.Clocks) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	names := chaos.ScenarioNames()
	i := slices.Index(names, cfg.opts.Scenario)
	if i < 0 {
		return fmt.Errorf("unknown scenario %q (want one of %s; -list describes them)", cfg.opts.Scenario, strings.Join(names, ", "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["skew"] || given["drift"] {
		sc := chaos.Scenarios()[i].Clocks
		if !given["skew"] {
			clocks.Skew = sc.Skew
		}
		if !given["drift"] {
			clocks.Drift = sc.Drift
		}
		cfg.opts.Clocks = &clocks
	}
	var oe *chaos.OptionError
	if err := cfg.opts.Check(); errors.As(err, &oe) {
		return fmt.Errorf("-%s %s", strings.ToLower(oe.Field), oe.Problem)
	} else if err != nil {
		return err
	}
	return nil
}
