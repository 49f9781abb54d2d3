package chaos

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/sim/check"
)

// summarize makes the Report of what rec recorded, judging every
// property.
func summarize(rec *record) *Report {
	r := rec
	cfg := r.Config
	props := r.properties()
	j := &Report{
		Command: "gossipsync sim",
		Replay:  replayCommand(cfg),
		Config: RunConfig{Nodes: cfg.Nodes, Duration: Duration(cfg.Duration), Seed: cfg.Seed,
			Scenario: cfg.Scenario.Name, Faults: faultNames(cfg.Scenario.Faults), Skew: Duration(cfg.Skew), DriftPPM: cfg.Drift, Unsafe: cfg.Unsafe, Disk: cfg.Disk},
		Problems:    problems(props),
		Properties:  props,
		Interrupted: r.Interrupted,
		Schedule:    []Phase{},
		Wall:        Duration(r.Wall),
		Machine: MachineReport{TimerLateP50: Duration(r.Stalls.P50), TimerLateP99: Duration(r.Stalls.P99), TimerLateMax: Duration(r.Stalls.Max),
			TimerSamples: r.Stalls.Samples, TimerLateOver: r.Stalls.Over, Overloaded: r.Stalls.warning() != "", Warning: r.Stalls.warning()},
		rec: rec,
	}
	j.OK = len(j.Problems) == 0
	if !j.OK {
		j.ExitStatus = 1
	}
	for _, p := range drawPhysClocks(cfg.Seed, nodeNames(cfg.Nodes), cfg.Skew, cfg.Drift) {
		j.PhysClocks = append(j.PhysClocks, PhysClock{Node: p.Node, Skew: Duration(p.Skew), PPM: p.PPM})
	}
	for _, p := range r.Phases {
		j.Schedule = append(j.Schedule, newPhase(p))
	}
	for _, f := range r.faultRows() {
		s := newSpread(f.took, f.count)
		j.Faults = append(j.Faults, FaultRow{Fault: string(f.fault), Count: f.count, Converged: len(f.took), Median: s.Median, Max: s.Max})
	}
	detect, crashes := r.detections()
	j.Membership = MembershipReport{CrashDetection: newSpread(detect, crashes), Detected: r.Detected,
		FalseSuspicions: r.FalseSuspicions, FinalConverged: r.FinalConverged, FinalTook: Duration(r.FinalTook)}
	s := r.Net
	j.Network = NetworkReport{PacketsSent: s.PacketsSent, PacketsDelivered: s.PacketsDelivered, PacketsDropped: s.PacketsDropped,
		StreamsOpened: s.StreamsOpened, DialsFailed: s.DialsFailed, PacketBytes: s.PacketBytes, StreamWrites: s.StreamWrites,
		StreamBytes: s.StreamBytes, PerLockOp: newOpCost(s, r.Locks).summary()}
	if s.PacketsSent > 0 {
		j.Network.DroppedPct = 100 * float64(s.PacketsDropped) / float64(s.PacketsSent)
	}
	j.Election = r.Election.summary()
	j.Clock = r.Clock.summary()
	j.Locks = r.Locks.summary()
	j.Tasks = r.Tasks.summary()
	j.Events = r.Events.summary()
	j.Groups = r.Groups.summary()
	j.Voters = r.Voters.summary()
	return j
}

func durPtr(d time.Duration) *Duration { j := Duration(d); return &j }
func boolPtr(b bool) *bool             { return &b }

func newPhase(p phaseResult) Phase {
	j := Phase{What: p.what(), Fault: string(p.Fault), Start: Duration(p.Start), Length: Duration(p.Length),
		At: Duration(p.At), Node: p.Node, Majority: p.Majority, Minority: p.Minority, Loss: p.Loss,
		Converged: p.Converged, Took: Duration(p.Took), Interrupted: p.Interrupted,
		LockHolder: p.Holder, VoterLeader: p.VoterLeader, Voter: p.Voter, NoTarget: p.NoTarget, LeaderCrash: p.LeaderCrash, RefCrash: p.RefCrash}
	if p.Err != nil {
		j.Error = p.Err.Error()
	}
	if p.Fault == faultPause {
		j.Pause = durPtr(p.Pause)
	}
	if p.Fault == faultCrash {
		j.Detected = boolPtr(p.Detected)
		if p.Detected {
			j.DetectTook = durPtr(p.DetectTook)
		}
	}
	if p.LeaderCrash {
		j.FailedOver = boolPtr(p.FailedOver)
		if p.FailedOver {
			j.Failover, j.NewLeader = durPtr(p.Failover), p.NewLeader
		}
	}
	if p.RefCrash {
		j.RefTerm = p.RefTerm
		j.Resynced = boolPtr(p.Resynced)
		if p.Resynced {
			j.Resync, j.NewRef, j.NewRefTerm = durPtr(p.Resync), p.NewRef, p.NewTerm
		}
	}
	return j
}

func (e *electionRecord) summary() ElectionReport {
	j := ElectionReport{Group: electionGroup, Leases: len(e.Leases), Leaders: []string{}, WorkloadErrors: e.Failures}
	for i, l := range e.Leases {
		if !slices.Contains(j.Leaders, l.Node) {
			j.Leaders = append(j.Leaders, l.Node)
		}
		if i == 0 {
			j.FirstTerm, j.LastTerm = l.Term, l.Term
		}
		j.FirstTerm, j.LastTerm = min(j.FirstTerm, l.Term), max(j.LastTerm, l.Term)
	}
	j.Failover = newSpread(failovers(e.LeaderCrashes, e.Leases), len(e.LeaderCrashes))
	if e.FinalLeader != nil {
		j.FinalLeader = &Leader{Node: e.FinalLeader.Node, Term: e.FinalLeader.Term}
	}
	return j
}

func newClockSync(s clockSync) ClockSync {
	return ClockSync{OK: s.OK, Reference: s.Ref.Node, Term: s.Ref.Stats.Term, Synced: s.Synced, Alive: s.Alive, Took: Duration(s.Took)}
}

func (k *clockRecord) summary() ClockReport {
	c := k.Check
	j := ClockReport{
		ReferenceGroup:   clock.ReferenceGroup,
		References:       []Leader{},
		MaxDisagreement:  Duration(c.C3Max),
		Error:            Percentiles{Duration(check.Percentile(c.Errors, 50)), Duration(check.Percentile(c.Errors, 99))},
		Uncertainty:      Percentiles{Duration(check.Percentile(c.Uncertainty, 50)), Duration(check.Percentile(c.Uncertainty, 99))},
		Judged:           c.Judged,
		Unsynced:         c.Unsynced,
		Stale:            c.Stale,
		Observations:     c.Observations,
		NoReference:      c.NoReference,
		FirstSync:        newClockSync(k.First),
		ReferenceCrashes: []Phase{},
		FinalSync:        newClockSync(k.Final),
	}
	for _, r := range k.References {
		j.References = append(j.References, Leader{Node: r.Node, Term: r.Stats.Term})
	}
	for _, p := range k.Crashes {
		j.ReferenceCrashes = append(j.ReferenceCrashes, newPhase(p))
	}
	return j
}

// shownDoubled is how many doubled ticks the report lists.
const shownDoubled = 5

func fromViolations(id, label, meaning string, v check.Violations) Finding {
	return newFinding(id, label, meaning, v.N, v.First)
}

func (l *lockRecord) summary() LockReport {
	v := l.Verdict
	j := LockReport{IDs: lockIDs, ClientsPerNode: lockClients, TTL: Duration(lockTTL), Mode: "quorum",
		Grants: v.Grants, PerSecond: v.PerSecond, Latency: Percentiles{Duration(v.P50), Duration(v.P99)},
		Handovers: v.Handovers, Handover: Percentiles{Duration(v.HandoverP50), Duration(v.HandoverP99)},
		PausedOverlaps: fromViolations("paused", "paused overlaps", "a paused holder's hold overlaps a later grant (not counted by L3)", v.Paused),
		LateRejected:   v.Late.Rejected, LateAccepted: v.Late.Accepted, LateHarmless: v.Late.Harmless, StaleRejected: v.Stale,
		Linearizable: !v.NotLinearizable, Porcupine: v.Porcupine, AcquireErrors: l.Errors, FirstOther: l.FirstOther}
	if l.Unsafe {
		j.Mode = "unsafe"
	}
	var times []time.Duration
	for _, h := range v.L4 {
		if h.Granted {
			times = append(times, h.Took)
		}
	}
	j.AfterHeal = newSpread(times, len(v.L4))
	return j
}

func (t *taskRecord) summary() TaskReport {
	v := t.Verdict
	j := TaskReport{SubmittersPerNode: taskSubmitters, Deadline: Duration(taskDeadline), AttemptTimeout: Duration(taskTimeout),
		Submitted: v.Submitted, Done: v.Done, Failed: v.Failed, SubmitterCrashed: v.Died, Open: v.Open, PerSecond: v.PerSecond,
		Latency:    Percentiles{Duration(v.P50), Duration(v.P99)},
		Executions: v.Executions, Duplicated: v.Duplicated, DuplicateRuns: v.DuplicateRuns, IdemRuns: v.IdemRuns, IdemIDs: v.IdemIDs,
		T2Cross:   fromViolations("T2'", "T2 across workers", "overlaps of one idempotency id on different workers (documented hazard during membership changes)", v.T2Cross),
		Unmatched: fromViolations("unmatched", "unmatched results", "results no execution produced", v.Unmatched),
		TickEvery: Duration(taskTick), Ticks: v.Ticks, TicksRun: v.TicksRun, TicksMissed: v.TicksMissed, TicksDoubled: v.TicksDoubled,
		DoubledTicks: v.Doubled[:min(len(v.Doubled), shownDoubled)], WorkloadErrors: t.Failures}
	if j.Failed == nil {
		j.Failed = map[string]int{}
	}
	return j
}

// replayCommand is the command line that replays the run cfg describes.
func replayCommand(cfg simConfig) string {
	s := fmt.Sprintf("go run ./cmd/gossipsync sim -scenario %s -nodes %d -duration %s -seed %d -skew %s -drift %s",
		cfg.Scenario.Name, cfg.Nodes, cfg.Duration, cfg.Seed, fmtSpan(cfg.Skew), strconv.FormatFloat(cfg.Drift, 'f', -1, 64))
	if cfg.Unsafe {
		s += " -unsafe"
	}
	if cfg.Disk {
		s += " -disk"
	}
	return s
}

// faultNames returns the names of faults.
func faultNames(faults []fault) []string {
	out := make([]string, len(faults))
	for i, f := range faults {
		out[i] = string(f)
	}
	return out
}

// newFinding is a Finding of n violations, with the first examples.
func newFinding(id, label, meaning string, n int, examples []string) Finding {
	p := Finding{ID: id, Label: label, Meaning: meaning, Verdict: "held", Violations: n}
	if n > 0 {
		p.Verdict = "broken"
		p.Examples = examples[:min(len(examples), shownViolations)]
	}
	return p
}

// problems returns a line for each broken property of props.
func problems(props []Property) []string {
	out := []string{}
	for _, p := range props {
		if p.Verdict != broken {
			continue
		}
		line := fmt.Sprintf("property %s (%s) BROKEN", p.ID, p.Name)
		if len(p.First) > 0 {
			line += ": " + p.First[0]
		}
		if p.Violations > 1 {
			line += fmt.Sprintf(" (and %d more)", p.Violations-1)
		}
		out = append(out, line)
	}
	return out
}
