package chaos

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of a run: what was done, what was measured and
// the verdict of every property. It is one value for every form of the
// report: String is the table gossipsync sim prints, WriteJSON its -json
// copy (these fields, as tagged), and WriteHTML the timeline page, drawn
// from the run's records besides. Durations are Duration: JSON strings
// as time.Duration prints them ("1.234s"), rounded to the microsecond.
type Report struct {
	Command string    `json:"command"` // "gossipsync sim"
	Replay  string    `json:"replay"`  // the command line that replays the run
	Config  RunConfig `json:"config"`
	// OK is whether the run passed (no property broken); ExitStatus is
	// what gossipsync sim exits with: 0 if OK, else 1.
	OK         bool `json:"ok"`
	ExitStatus int  `json:"exit_status"`
	// Problems has a line for each broken property; empty if OK.
	Problems []string `json:"problems"`
	// Properties are the verdicts in the table's order, the user
	// workloads' last (Property.User).
	Properties  []Property       `json:"properties"`
	Interrupted bool             `json:"interrupted"` // the run was stopped before the schedule ended
	Schedule    []Phase          `json:"schedule"`    // the phases as made
	Faults      []FaultRow       `json:"faults"`      // per kind of phase
	Membership  MembershipReport `json:"membership"`
	Network     NetworkReport    `json:"network"`
	Election    ElectionReport   `json:"election"`
	Clock       ClockReport      `json:"clock"`
	Locks       LockReport       `json:"locks"`
	Tasks       TaskReport       `json:"tasks"`
	Events      EventReport      `json:"events"`
	Groups      GroupReport      `json:"consumer_group"`
	Voters      VoterReport      `json:"voters"` // the voter configuration over time
	PhysClocks  []PhysClock      `json:"physical_clocks"`
	Wall        Duration         `json:"wall_time"`
	Machine     MachineReport    `json:"machine"`

	rec *record // what the run recorded, for the page; nil once read back from JSON
}

// Broken reports whether a property was broken (the opposite of OK).
func (r *Report) Broken() bool { return !r.OK }

// Status is the exit status gossipsync sim gives the run: 1 if a
// property was broken, else 0.
func (r *Report) Status() int { return r.ExitStatus }

// User returns the verdicts of the user's workloads (Simulate's, Run's),
// in their order.
func (r *Report) User() []Property {
	var out []Property
	for _, p := range r.Properties {
		if p.User {
			out = append(out, p)
		}
	}
	return out
}

// String is the report's table, as gossipsync sim prints it.
func (r *Report) String() string {
	var b strings.Builder
	r.print(&b)
	return b.String()
}

// WriteJSON writes r as JSON to w, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// errNoRecords is WriteHTML's error for a report read back from JSON.
var errNoRecords = errors.New("chaos: the report has no records of the run to draw (a report read from JSON has only its figures)")

// WriteHTML writes the timeline page of the run to w: one self-contained
// file (see the package doc). A Report read back from JSON cannot draw
// one.
func (r *Report) WriteHTML(w io.Writer) error {
	if r.rec == nil {
		return errNoRecords
	}
	return r.rec.writeHTML(w, r)
}

// Duration is a time.Duration that marshals to JSON as a string:
// "1.5s", "450µs".
type Duration time.Duration

// MarshalJSON writes d as time.Duration prints it, rounded to the
// microsecond.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).Round(time.Microsecond).String())), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return errors.New("chaos: a duration is a quoted string such as \"1.5s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("chaos: " + err.Error())
	}
	*d = Duration(v)
	return nil
}

// RunConfig is what the run was asked to do, defaults resolved.
type RunConfig struct {
	Nodes    int      `json:"nodes"`
	Duration Duration `json:"duration"`
	Seed     int64    `json:"seed"`
	Scenario string   `json:"scenario"`
	Faults   []string `json:"faults"`    // the scenario's kinds of phase
	Skew     Duration `json:"skew"`      // each physical clock is off by up to ±Skew
	DriftPPM float64  `json:"drift_ppm"` // and runs fast or slow by up to ±DriftPPM
	Unsafe   bool     `json:"unsafe"`    // the lock workload ran without quorum
	Disk     bool     `json:"disk"`      // every node had a DataDir
}

// PhysClock is one node's physical clock as drawn from the seed.
type PhysClock struct {
	Node string   `json:"node"`
	Skew Duration `json:"skew"`
	PPM  float64  `json:"drift_ppm"`
}

// Spread sums up how long Count of Of events took.
type Spread struct {
	Count  int       `json:"count"`  // events measured
	Of     int       `json:"of"`     // events
	Median *Duration `json:"median"` // over Count; nil if 0
	Max    *Duration `json:"max"`
}

// newSpread sums up times, measured for len(times) of of events.
func newSpread(times []time.Duration, of int) Spread {
	s := Spread{Count: len(times), Of: of}
	if len(times) > 0 {
		med, mx := Duration(median(times)), Duration(times[0])
		for _, t := range times {
			mx = max(mx, Duration(t))
		}
		s.Median, s.Max = &med, &mx
	}
	return s
}

// FaultRow is how often one kind of phase was made and how long those
// that converged took to.
type FaultRow struct {
	Fault     string    `json:"fault"`
	Count     int       `json:"count"`
	Converged int       `json:"converged"`
	Median    *Duration `json:"median"` // nil if none converged
	Max       *Duration `json:"max"`
}

// MembershipReport is how the members' views followed the faults.
type MembershipReport struct {
	CrashDetection  Spread   `json:"crash_detection"`   // from each crash until every alive node dropped the node
	Detected        int      `json:"failures_detected"` // failures declared about crashed or cut-off members
	FalseSuspicions int      `json:"false_suspicions"`  // failures declared about reachable, alive members
	FinalConverged  bool     `json:"final_converged"`   // the views agreed again after the final heal
	FinalTook       Duration `json:"final_took"`        // to that, or until the report gave up
}

// NetworkReport is what the simulated network carried.
type NetworkReport struct {
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
	PerLockOp OpCost `json:"per_lock_op"`
}

// OpCost is every packet and stream write of the run (gossip, the RPCs
// of every workload: elections, clocks, tasks and locks) over the lock
// operations: an upper bound on a lock operation's cost, not its own,
// that grows with the other workloads. Compare runs of one scenario at
// different sizes.
type OpCost struct {
	LockOps       int     `json:"lock_ops"` // grants and their ends
	Messages      uint64  `json:"messages"` // packets sent and stream writes
	Bytes         uint64  `json:"bytes"`
	MessagesPerOp float64 `json:"messages_per_lock_op"` // 0 without lock operations
	BytesPerOp    float64 `json:"bytes_per_lock_op"`
}

// Finding is a count the report shows beside the properties, with the
// first few examples: "held" if none, else "broken".
type Finding struct {
	ID         string   `json:"id"`
	Label      string   `json:"label"`
	Meaning    string   `json:"meaning"`
	Verdict    string   `json:"verdict"`
	Violations int      `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
}

// Leader is a node and its term: an election's leader, a clock's
// reference.
type Leader struct {
	Node string `json:"node"`
	Term uint64 `json:"term"`
}

// Percentiles are a latency's median and 99th percentile.
type Percentiles struct {
	P50 Duration `json:"p50"`
	P99 Duration `json:"p99"`
}

// MachineReport is how late the machine ran the simulation's timers:
// past the leases' margin, timing verdicts may reflect the machine.
type MachineReport struct {
	TimerLateP50  Duration `json:"timer_late_p50"`
	TimerLateP99  Duration `json:"timer_late_p99"`
	TimerLateMax  Duration `json:"timer_late_max"`
	TimerSamples  int      `json:"timer_samples"`
	TimerLateOver int      `json:"timer_late_over_margin"` // samples later than the margin
	Overloaded    bool     `json:"overloaded"`
	Warning       string   `json:"warning,omitempty"`
}

// Std returns d as a time.Duration, rounded to the microsecond as its
// JSON keeps it: the table prints the same figures from a report read
// back from JSON.
func (d Duration) Std() time.Duration { return time.Duration(d).Round(time.Microsecond) }
