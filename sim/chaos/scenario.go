package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// scenario is a named kind of chaos: the faults its schedule draws from
// and the physical clocks it starts with unless -skew and -drift say
// otherwise. Every scenario runs all five workloads.
type scenario struct {
	Name    string
	Summary string  // one line for -list
	Faults  []fault // the schedule draws from these
	Grouped bool    // show each family of Faults once before repeating (see fault.family)
	Skew    time.Duration
	Drift   float64 // ppm
	Disk    bool    // every node keeps a DataDir, whatever Options.Disk says
}

// Physical clocks of most scenarios, and of skew.
const (
	defaultSkew  = 5 * time.Second
	defaultDrift = 200
	largeSkew    = time.Hour
	largeDrift   = clockDrift
	// leaseDrift is the drift scenario's: ±4 %, so any two clocks
	// within 8 %, inside the leases' bound of about 10 %.
	leaseDrift = 40_000
)

// scenarios are the named scenarios, in the order -list shows them.
var scenarios = []scenario{
	{Name: "partition", Faults: []fault{faultPartition, faultSplit, faultBridge, faultIsolate},
		Summary: "cuts of the network, each healed after a phase: a majority and a minority, a split where no side has a majority, two sides joined only through one bridge node, and the election leader or the voters' Raft leader cut off alone; every cut black-holes the streams it crosses (no reset: calls hang until their deadlines)",
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "crash", Faults: []fault{faultCrash},
		Summary: "nodes crash and restart later; the crashes aim in turn at the election leader, the clock reference, the voters' Raft leader, a lock holder, the coordinator of a lock id, another voter and a random node",
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "pause", Faults: []fault{faultPause},
		Summary: "a lock holder, the election leader or the voters' Raft leader freezes for 1.5-3 s, longer than its lease, and then resumes where it was (a long GC pause or a stopped VM); the locks' Fence must reject its late writes",
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "skew", Faults: []fault{faultJump},
		Summary: fmt.Sprintf("physical clocks off by up to ±%s and drifting by up to ±%d ppm; the clock reference's (or another node's) physical clock jumps by 0.5-5 s either way", fmtSpan(largeSkew), largeDrift),
		Skew:    largeSkew, Drift: largeDrift},
	{Name: "loss", Faults: []fault{faultLoss},
		Summary: fmt.Sprintf("%.0f-%.0f%% of packets lost (a stream's lost segment waits 200 ms or more for its retransmission) and every message delayed by %v-%v, for a phase at a time", minLoss*100, maxLoss*100, lossMinDelay, lossMaxDelay),
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "churn", Faults: []fault{faultLeave, faultJoin},
		Summary: "nodes leave gracefully and new nodes join, one per phase, keeping the cluster within one node of its size",
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "rollout", Faults: []fault{faultRollout},
		Summary: fmt.Sprintf("a rolling redeploy: every node, in a seeded random order, crashes, restarts under its name %s-%s later and gets %s to rejoin before the next one; a -duration shorter than %s (for 5 nodes) restarts only the first nodes", fmtDur(minRestartAfter), fmtDur(maxRestartAfter), fmtDur(rejoinWait), fmtSpan(rolloutSpan(5))),
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "scale", Faults: []fault{faultScale},
		Summary: fmt.Sprintf("the cluster grows by joins, one node every %s, to max(30, 1.5 x -nodes) nodes, then shrinks back to -nodes by graceful leaves of alive nodes drawn at random (voters and the voters' leader among them), one every %s; a -duration shorter than %s (for 3 nodes) makes fewer steps, half up and half down; -nodes at most %d", fmtDur(scaleStep), fmtDur(scaleStep), fmtSpan(scaleSpan(3)), maxSimSize*2/3),
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "drift", Faults: []fault{faultPartition, faultIsolate, faultCrash, faultPause},
		Summary: fmt.Sprintf("physical clocks run fast or slow by up to ±%g %% (any two within %g %%, inside the leases' bound of about 10 %%; the cluster clocks are told, with clock.MaxDrift) while leases change hands: cuts, the leader cut off, crashes and pauses. Past the bound (-drift %d, ±%g %%) the report shows what breaks: the cluster clocks' C1 and C3, and E3 or L3 when a lease passes from a holder whose clock runs slow while the voters' run fast (it outlives their hold of its grant)", float64(leaseDrift)/1e4, float64(2*leaseDrift)/1e4, maxDriftFlag, float64(maxDriftFlag)/1e4),
		Skew:    defaultSkew, Drift: leaseDrift},
	{Name: "outage", Faults: []fault{faultOutage}, Disk: true,
		Summary: fmt.Sprintf("every node crashes at once (a power loss, or a redeploy of everything together), stays down %s-%s, and restarts, one after the other, each joining those already up; then %s of running before the next outage. Every node keeps a DataDir (as with -disk): the voters go on from their directories, with the leases, tokens and event log of before the outage", fmtDur(minOutage), fmtDur(maxOutage), fmtDur(outageRun)),
		Skew:    defaultSkew, Drift: defaultDrift},
	{Name: "all", Grouped: true,
		Faults:  []fault{faultPartition, faultSplit, faultBridge, faultIsolate, faultCrash, faultPause, faultJump, faultLoss, faultLeave, faultJoin, faultRollout},
		Summary: "every fault above but a scale, drawn at random; each kind (cuts, crash, pause, jump, loss, churn, rollout) once before any repeats; a rollout here restarts, one at a time, only as many nodes as fit in its phase of 3-5 s (one or two), not all of them",
		Skew:    defaultSkew, Drift: defaultDrift},
}

// defaultScenario is the scenario of a run without -scenario.
const defaultScenario = "all"

// lookupScenario returns the scenario named name.
func lookupScenario(name string) (scenario, error) {
	for _, sc := range scenarios {
		if sc.Name == name {
			return sc, nil
		}
	}
	return scenario{}, fmt.Errorf("unknown scenario %q (want one of %s)", name, strings.Join(scenarioNames(), ", "))
}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.Name
	}
	return names
}

// listScenarios writes what -list prints.
func listScenarios(w io.Writer) {
	fmt.Fprint(w, "Scenarios of gossipsync sim (-scenario NAME; the default is all). Each runs\nthe election, clock, lock, task and event workloads on every node while\nits faults are made, one per phase of 3-5 s (the steps of a rollout or a\nscale are shorter), and then heals everything.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, sc := range scenarios {
		lines := wrap(sc.Summary, 64)
		for i, l := range lines {
			name := ""
			if i == 0 {
				name = sc.Name
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, l)
		}
		fmt.Fprintf(tw, "\t(clocks: skew ±%s, drift ±%g ppm)\n", fmtSpan(sc.Skew), sc.Drift)
	}
	tw.Flush()
	fmt.Fprint(w, "\nExample: go run ./cmd/gossipsync sim -scenario partition -nodes 7 -duration 1m -seed 3\n")
}

// wrap breaks s into lines of at most width bytes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// fmtSpan formats a whole span without zero units: 1h, 1h30m, 5s.
func fmtSpan(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
