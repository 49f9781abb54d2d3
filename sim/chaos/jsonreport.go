package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/sim/check"
)

// The -json report. The report structs hold times, errors and raw samples
// that do not serialize sensibly, so the JSON is built from them as the
// views below. Every duration is a string as time.Duration prints it,
// rounded to the microsecond: "1.234s", "450µs".

// jsonDur is a duration that marshals as a string: "1.5s".
type jsonDur time.Duration

func (d jsonDur) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).Round(time.Microsecond).String())), nil
}

type jsonReport struct {
	Command     string          `json:"command"`
	Replay      string          `json:"replay"`
	Config      jsonConfig      `json:"config"`
	OK          bool            `json:"ok"`
	ExitStatus  int             `json:"exit_status"`
	Problems    []string        `json:"problems"`   // why the run failed; empty if it passed
	Properties  []Property      `json:"properties"` // the verdicts, as the report's table
	Interrupted bool            `json:"interrupted"`
	Schedule    []jsonPhase     `json:"schedule"`
	FaultTable  []jsonFaultRow  `json:"faults"`
	Membership  jsonMembership  `json:"membership"`
	Network     jsonNet         `json:"network"`
	Election    jsonElection    `json:"election"`
	Clock       jsonClock       `json:"clock"`
	Locks       jsonLocks       `json:"locks"`
	Tasks       jsonTasks       `json:"tasks"`
	Voters      jsonVoters      `json:"voters"` // the voter configuration over time
	PhysClocks  []jsonPhysClock `json:"physical_clocks"`
	Wall        jsonDur         `json:"wall_time"`
	Machine     jsonMachine     `json:"machine"`
}

type jsonConfig struct {
	Nodes    int      `json:"nodes"`
	Duration jsonDur  `json:"duration"`
	Seed     int64    `json:"seed"`
	Scenario string   `json:"scenario"`
	Faults   []string `json:"faults"` // the scenario's
	Skew     jsonDur  `json:"skew"`
	DriftPPM float64  `json:"drift_ppm"`
	Unsafe   bool     `json:"unsafe"`
}

type jsonPhysClock struct {
	Node string  `json:"node"`
	Skew jsonDur `json:"skew"`
	PPM  float64 `json:"drift_ppm"`
}

// jsonPhase is one phase of the schedule as it was made.
type jsonPhase struct {
	What        string   `json:"what"` // "crash n3 (leader)"
	Fault       string   `json:"fault"`
	Start       jsonDur  `json:"start"` // scheduled, from the start of the schedule
	Length      jsonDur  `json:"length"`
	At          jsonDur  `json:"at"` // made
	Node        string   `json:"node,omitempty"`
	Majority    []string `json:"majority,omitempty"`
	Minority    []string `json:"minority,omitempty"`
	Pause       *jsonDur `json:"pause,omitempty"`
	Loss        float64  `json:"loss,omitempty"`
	Converged   bool     `json:"converged"`
	Took        jsonDur  `json:"took"` // to convergence, or until the phase ended
	Interrupted bool     `json:"interrupted,omitempty"`
	Error       string   `json:"error,omitempty"`

	Detected    *bool    `json:"detected,omitempty"` // crash: every alive node dropped the node
	DetectTook  *jsonDur `json:"detect_took,omitempty"`
	LockHolder  bool     `json:"lock_holder,omitempty"`
	VoterLeader bool     `json:"voters_leader,omitempty"` // the node was the voters' Raft leader
	Voter       bool     `json:"voter,omitempty"`         // the node was a voter, not their leader
	NoTarget    bool     `json:"no_target,omitempty"`
	LeaderCrash bool     `json:"leader_crash,omitempty"`
	FailedOver  *bool    `json:"failed_over,omitempty"`
	Failover    *jsonDur `json:"failover,omitempty"`
	NewLeader   string   `json:"new_leader,omitempty"`
	RefCrash    bool     `json:"reference_crash,omitempty"`
	RefTerm     uint64   `json:"reference_term,omitempty"`
	Resynced    *bool    `json:"resynced,omitempty"`
	Resync      *jsonDur `json:"resync,omitempty"`
	NewRef      string   `json:"new_reference,omitempty"`
	NewRefTerm  uint64   `json:"new_reference_term,omitempty"`
}

type jsonFaultRow struct {
	Fault     string   `json:"fault"`
	Count     int      `json:"count"`
	Converged int      `json:"converged"`
	Median    *jsonDur `json:"median"` // null if none converged
	Max       *jsonDur `json:"max"`
}

type jsonSpread struct {
	Count  int      `json:"count"`  // events measured
	Of     int      `json:"of"`     // events
	Median *jsonDur `json:"median"` // over the count; null if 0
	Max    *jsonDur `json:"max"`
}

type jsonMembership struct {
	CrashDetection  jsonSpread `json:"crash_detection"`
	Detected        int        `json:"failures_detected"`
	FalseSuspicions int        `json:"false_suspicions"`
	FinalConverged  bool       `json:"final_converged"`
	FinalTook       jsonDur    `json:"final_took"`
}

type jsonNet struct {
	PacketsSent      uint64  `json:"packets_sent"`
	PacketsDelivered uint64  `json:"packets_delivered"`
	PacketsDropped   uint64  `json:"packets_dropped"`
	DroppedPct       float64 `json:"dropped_pct"`
	StreamsOpened    uint64  `json:"streams_opened"`
	DialsFailed      uint64  `json:"dials_failed"`
	PacketBytes      uint64  `json:"packet_bytes"`
	StreamWrites     uint64  `json:"stream_writes"` // Write calls that queued data
	StreamBytes      uint64  `json:"stream_bytes"`
	// PerLockOp is all of the traffic over the lock operations.
	PerLockOp jsonOpCost `json:"per_lock_op"`
}

// jsonProperty is one property's verdict: "held" or "broken".
type jsonProperty struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Meaning    string   `json:"meaning"`
	Verdict    string   `json:"verdict"`
	Violations int      `json:"violations"`
	Examples   []string `json:"examples,omitempty"` // the first few
}

func newJSONProperty(id, label, meaning string, n int, examples []string) jsonProperty {
	p := jsonProperty{ID: id, Label: label, Meaning: meaning, Verdict: "held", Violations: n}
	if n > 0 {
		p.Verdict = "broken"
		p.Examples = examples[:min(len(examples), shownViolations)]
	}
	return p
}

type jsonLeader struct {
	Node string `json:"node"`
	Term uint64 `json:"term"`
}

type jsonElection struct {
	Group          string      `json:"group"`
	Leases         int         `json:"leases"`
	Leaders        []string    `json:"leaders"`
	Failover       jsonSpread  `json:"e4_failover"`
	FinalLeader    *jsonLeader `json:"final_leader"` // null: none after the final heal
	WorkloadErrors []string    `json:"workload_errors,omitempty"`
}

type jsonPercentiles struct {
	P50 jsonDur `json:"p50"`
	P99 jsonDur `json:"p99"`
}

type jsonSync struct {
	OK        bool    `json:"ok"`
	Reference string  `json:"reference"`
	Term      uint64  `json:"term"`
	Synced    int     `json:"synced"`
	Alive     int     `json:"alive"`
	Took      jsonDur `json:"took"`
}

type jsonClock struct {
	ReferenceGroup   string          `json:"reference_group"`
	References       []jsonLeader    `json:"references"`
	MaxDisagreement  jsonDur         `json:"c3_max_disagreement"`
	Error            jsonPercentiles `json:"error"`
	Uncertainty      jsonPercentiles `json:"uncertainty"`
	Judged           int             `json:"readings_judged"`
	Unsynced         int             `json:"readings_unsynced"`
	Stale            int             `json:"readings_stale"`
	Observations     int             `json:"instants_observed"`
	NoReference      int             `json:"instants_without_reference"`
	FirstSync        jsonSync        `json:"first_sync"`
	ReferenceCrashes []jsonPhase     `json:"reference_crashes"`
	FinalSync        jsonSync        `json:"final_sync"`
}

type jsonLocks struct {
	IDs            int             `json:"ids"`
	ClientsPerNode int             `json:"clients_per_node"`
	TTL            jsonDur         `json:"ttl"`
	Mode           string          `json:"mode"` // "quorum" or "unsafe"
	Grants         int             `json:"grants"`
	PerSecond      float64         `json:"grants_per_second"`
	Latency        jsonPercentiles `json:"acquire_latency"`
	AfterHeal      jsonSpread      `json:"l4_grant_after_heal"`
	PausedOverlaps jsonProperty    `json:"paused_overlaps"`
	LateRejected   int             `json:"fence_late_rejected"`
	LateAccepted   int             `json:"fence_late_accepted"`
	LateHarmless   int             `json:"fence_late_harmless"`
	StaleRejected  int             `json:"fence_fresh_rejected"`
	Linearizable   bool            `json:"linearizable"`
	Porcupine      string          `json:"porcupine"`
	AcquireErrors  map[string]int  `json:"acquire_errors,omitempty"`
	FirstOther     string          `json:"first_other_error,omitempty"`
}

type jsonTasks struct {
	SubmittersPerNode int             `json:"submitters_per_node"`
	Deadline          jsonDur         `json:"deadline"`
	AttemptTimeout    jsonDur         `json:"attempt_timeout"`
	Submitted         int             `json:"submitted"`
	Done              int             `json:"done"`
	Failed            map[string]int  `json:"failed"`
	SubmitterCrashed  int             `json:"submitter_crashed"`
	Open              int             `json:"open"`
	PerSecond         float64         `json:"done_per_second"`
	Latency           jsonPercentiles `json:"latency"`
	Executions        int             `json:"executions"`
	Duplicated        int             `json:"duplicated"`
	DuplicateRuns     int             `json:"duplicate_runs"`
	IdemRuns          int             `json:"idempotent_runs"`
	IdemIDs           int             `json:"idempotency_ids"`
	T2Cross           jsonProperty    `json:"t2_across_workers"`
	Unmatched         jsonProperty    `json:"unmatched_results"`
	TickEvery         jsonDur         `json:"schedule_every"`
	Ticks             int             `json:"ticks"`
	TicksRun          int             `json:"ticks_run"`
	TicksMissed       int             `json:"ticks_missed"`
	TicksDoubled      int             `json:"ticks_doubled"`
	WorkloadErrors    []string        `json:"workload_errors,omitempty"`
}

// WriteJSON writes r as JSON to w (indented), with the exit status
// gossipsync sim gives it (Status).
func (r *Report) WriteJSON(w io.Writer) error {
	status := r.Status()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.toJSON(status))
}

func (r *Report) toJSON(status int) jsonReport {
	cfg := r.Config
	j := jsonReport{
		Command: "gossipsync sim",
		Replay:  replayCommand(cfg),
		Config: jsonConfig{Nodes: cfg.Nodes, Duration: jsonDur(cfg.Duration), Seed: cfg.Seed,
			Scenario: cfg.Scenario.Name, Faults: faultNames(cfg.Scenario.Faults), Skew: jsonDur(cfg.Skew), DriftPPM: cfg.Drift, Unsafe: cfg.Unsafe},
		Problems:    r.Problems(),
		Properties:  r.properties(),
		ExitStatus:  status,
		Interrupted: r.Interrupted,
		Schedule:    []jsonPhase{},
		Wall:        jsonDur(r.Wall),
		Machine: jsonMachine{TimerLateP50: jsonDur(r.Stalls.P50), TimerLateP99: jsonDur(r.Stalls.P99), TimerLateMax: jsonDur(r.Stalls.Max),
			Overloaded: r.Stalls.warning() != "", Warning: r.Stalls.warning()},
	}
	if j.Problems == nil {
		j.Problems = []string{}
	}
	j.OK = len(j.Problems) == 0
	for _, p := range drawPhysClocks(cfg.Seed, nodeNames(cfg.Nodes), cfg.Skew, cfg.Drift) {
		j.PhysClocks = append(j.PhysClocks, jsonPhysClock{Node: p.Node, Skew: jsonDur(p.Skew), PPM: p.PPM})
	}
	for _, p := range r.Phases {
		j.Schedule = append(j.Schedule, newJSONPhase(p))
	}
	for _, f := range r.faultRows() {
		s := newSpread(f.took, f.count)
		j.FaultTable = append(j.FaultTable, jsonFaultRow{Fault: string(f.fault), Count: f.count, Converged: len(f.took), Median: s.Median, Max: s.Max})
	}
	detect, crashes := r.detections()
	j.Membership = jsonMembership{CrashDetection: newSpread(detect, crashes), Detected: r.Detected,
		FalseSuspicions: r.FalseSuspicions, FinalConverged: r.FinalConverged, FinalTook: jsonDur(r.FinalTook)}
	s := r.Net
	j.Network = jsonNet{PacketsSent: s.PacketsSent, PacketsDelivered: s.PacketsDelivered, PacketsDropped: s.PacketsDropped,
		StreamsOpened: s.StreamsOpened, DialsFailed: s.DialsFailed, PacketBytes: s.PacketBytes, StreamWrites: s.StreamWrites,
		StreamBytes: s.StreamBytes, PerLockOp: newOpCost(s, r.Locks).toJSON()}
	if s.PacketsSent > 0 {
		j.Network.DroppedPct = 100 * float64(s.PacketsDropped) / float64(s.PacketsSent)
	}
	j.Election = r.Election.toJSON()
	j.Clock = r.Clock.toJSON()
	j.Locks = r.Locks.toJSON()
	j.Tasks = r.Tasks.toJSON()
	j.Voters = r.Voters.toJSON()
	return j
}

func newSpread(times []time.Duration, of int) jsonSpread {
	s := jsonSpread{Count: len(times), Of: of}
	if len(times) > 0 {
		med, mx := jsonDur(median(times)), jsonDur(times[0])
		for _, t := range times {
			mx = max(mx, jsonDur(t))
		}
		s.Median, s.Max = &med, &mx
	}
	return s
}

func durPtr(d time.Duration) *jsonDur { j := jsonDur(d); return &j }
func boolPtr(b bool) *bool            { return &b }

func newJSONPhase(p phaseResult) jsonPhase {
	j := jsonPhase{What: p.what(), Fault: string(p.Fault), Start: jsonDur(p.Start), Length: jsonDur(p.Length),
		At: jsonDur(p.At), Node: p.Node, Majority: p.Majority, Minority: p.Minority, Loss: p.Loss,
		Converged: p.Converged, Took: jsonDur(p.Took), Interrupted: p.Interrupted,
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

func (e *electionReport) toJSON() jsonElection {
	j := jsonElection{Group: electionGroup, Leases: len(e.Leases), Leaders: []string{}, WorkloadErrors: e.Failures}
	for _, l := range e.Leases {
		if !containsString(j.Leaders, l.Node) {
			j.Leaders = append(j.Leaders, l.Node)
		}
	}
	j.Failover = newSpread(failovers(e.LeaderCrashes, e.Leases), len(e.LeaderCrashes))
	if e.FinalLeader != nil {
		j.FinalLeader = &jsonLeader{Node: e.FinalLeader.Node, Term: e.FinalLeader.Term}
	}
	return j
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func newJSONSync(s clockSync) jsonSync {
	return jsonSync{OK: s.OK, Reference: s.Ref.Node, Term: s.Ref.Stats.Term, Synced: s.Synced, Alive: s.Alive, Took: jsonDur(s.Took)}
}

func (k *clockReport) toJSON() jsonClock {
	c := k.Check
	j := jsonClock{
		ReferenceGroup:   clock.ReferenceGroup,
		References:       []jsonLeader{},
		MaxDisagreement:  jsonDur(c.C3Max),
		Error:            jsonPercentiles{jsonDur(check.Percentile(c.Errors, 50)), jsonDur(check.Percentile(c.Errors, 99))},
		Uncertainty:      jsonPercentiles{jsonDur(check.Percentile(c.Uncertainty, 50)), jsonDur(check.Percentile(c.Uncertainty, 99))},
		Judged:           c.Judged,
		Unsynced:         c.Unsynced,
		Stale:            c.Stale,
		Observations:     c.Observations,
		NoReference:      c.NoReference,
		FirstSync:        newJSONSync(k.First),
		ReferenceCrashes: []jsonPhase{},
		FinalSync:        newJSONSync(k.Final),
	}
	for _, r := range k.References {
		j.References = append(j.References, jsonLeader{Node: r.Node, Term: r.Stats.Term})
	}
	for _, p := range k.Crashes {
		j.ReferenceCrashes = append(j.ReferenceCrashes, newJSONPhase(p))
	}
	return j
}

func fromViolations(id, label, meaning string, v check.Violations) jsonProperty {
	return newJSONProperty(id, label, meaning, v.N, v.First)
}

func (l *lockReport) toJSON() jsonLocks {
	v := l.Verdict
	j := jsonLocks{IDs: lockIDs, ClientsPerNode: lockClients, TTL: jsonDur(lockTTL), Mode: "quorum",
		Grants: v.Grants, PerSecond: v.PerSecond, Latency: jsonPercentiles{jsonDur(v.P50), jsonDur(v.P99)},
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

func (t *taskReport) toJSON() jsonTasks {
	v := t.Verdict
	j := jsonTasks{SubmittersPerNode: taskSubmitters, Deadline: jsonDur(taskDeadline), AttemptTimeout: jsonDur(taskTimeout),
		Submitted: v.Submitted, Done: v.Done, Failed: v.Failed, SubmitterCrashed: v.Died, Open: v.Open, PerSecond: v.PerSecond,
		Latency:    jsonPercentiles{jsonDur(v.P50), jsonDur(v.P99)},
		Executions: v.Executions, Duplicated: v.Duplicated, DuplicateRuns: v.DuplicateRuns, IdemRuns: v.IdemRuns, IdemIDs: v.IdemIDs,
		T2Cross:   fromViolations("T2'", "T2 across workers", "overlaps of one idempotency id on different workers (documented hazard during membership changes)", v.T2Cross),
		Unmatched: fromViolations("unmatched", "unmatched results", "results no execution produced", v.Unmatched),
		TickEvery: jsonDur(taskTick), Ticks: v.Ticks, TicksRun: v.TicksRun, TicksMissed: v.TicksMissed, TicksDoubled: v.TicksDoubled,
		WorkloadErrors: t.Failures}
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

// jsonMachine is how late the machine ran the simulation's timers.
type jsonMachine struct {
	TimerLateP50 jsonDur `json:"timer_late_p50"`
	TimerLateP99 jsonDur `json:"timer_late_p99"`
	TimerLateMax jsonDur `json:"timer_late_max"`
	Overloaded   bool    `json:"overloaded"` // late past the leases' margin: timing verdicts may reflect the machine
	Warning      string  `json:"warning,omitempty"`
}
