package chaos

// The sections of a Report that describe the phases and the workloads.

// Phase is one phase of the schedule as it was made. The fields after
// Error are set for the phases they concern.
type Phase struct {
	What        string    `json:"what"` // "crash n3 (leader)"
	Fault       string    `json:"fault"`
	Start       Duration  `json:"start"` // scheduled, from the start of the schedule
	Length      Duration  `json:"length"`
	At          Duration  `json:"at"` // made
	Node        string    `json:"node,omitempty"`
	Majority    []string  `json:"majority,omitempty"`
	Minority    []string  `json:"minority,omitempty"`
	Pause       *Duration `json:"pause,omitempty"`
	Loss        float64   `json:"loss,omitempty"`
	Converged   bool      `json:"converged"`
	Took        Duration  `json:"took"` // to convergence, or until the phase ended
	Interrupted bool      `json:"interrupted,omitempty"`
	Error       string    `json:"error,omitempty"` // a restart that failed

	Detected    *bool     `json:"detected,omitempty"` // crash: every alive node dropped the node
	DetectTook  *Duration `json:"detect_took,omitempty"`
	LockHolder  bool      `json:"lock_holder,omitempty"`
	VoterLeader bool      `json:"voters_leader,omitempty"` // the node was the voters' Raft leader
	Voter       bool      `json:"voter,omitempty"`         // the node was a voter, not their leader
	NoTarget    bool      `json:"no_target,omitempty"`     // the phase aimed at a role no alive node had
	LeaderCrash bool      `json:"leader_crash,omitempty"`  // the node held the election's lease
	FailedOver  *bool     `json:"failed_over,omitempty"`   // a new lease started before the phase ended
	Failover    *Duration `json:"failover,omitempty"`
	NewLeader   string    `json:"new_leader,omitempty"`
	RefCrash    bool      `json:"reference_crash,omitempty"` // the node was the clock reference
	RefTerm     uint64    `json:"reference_term,omitempty"`
	Resynced    *bool     `json:"resynced,omitempty"` // every alive node read on a new reference before the phase ended
	Resync      *Duration `json:"resync,omitempty"`
	NewRef      string    `json:"new_reference,omitempty"`
	NewRefTerm  uint64    `json:"new_reference_term,omitempty"`
}

// ElectionReport is what the election workload recorded: every node
// campaigns in Group.
type ElectionReport struct {
	Group     string   `json:"group"`
	Leases    int      `json:"leases"`
	Leaders   []string `json:"leaders"` // in the order of their first lease
	FirstTerm uint64   `json:"first_term"`
	LastTerm  uint64   `json:"last_term"`
	// Failover spreads, over the crashes of the leader, the time to the
	// next lease.
	Failover       Spread   `json:"e4_failover"`
	FinalLeader    *Leader  `json:"final_leader"` // nil: none after the final heal
	WorkloadErrors []string `json:"workload_errors,omitempty"`
}

// ClockSync is a moment every alive node read on one reference (OK), or
// how far they got.
type ClockSync struct {
	OK        bool     `json:"ok"`
	Reference string   `json:"reference"`
	Term      uint64   `json:"term"`
	Synced    int      `json:"synced"`
	Alive     int      `json:"alive"`
	Took      Duration `json:"took"`
}

// ClockReport is what the clock workload recorded and the checker found.
type ClockReport struct {
	ReferenceGroup   string      `json:"reference_group"`
	References       []Leader    `json:"references"` // each seen, in order
	MaxDisagreement  Duration    `json:"c3_max_disagreement"`
	Error            Percentiles `json:"error"`
	Uncertainty      Percentiles `json:"uncertainty"`
	Judged           int         `json:"readings_judged"`
	Unsynced         int         `json:"readings_unsynced"`
	Stale            int         `json:"readings_stale"`
	Observations     int         `json:"instants_observed"`
	NoReference      int         `json:"instants_without_reference"`
	FirstSync        ClockSync   `json:"first_sync"`
	ReferenceCrashes []Phase     `json:"reference_crashes"`
	FinalSync        ClockSync   `json:"final_sync"`
}

// LockReport is what the lock workload recorded and the checkers found.
type LockReport struct {
	IDs            int         `json:"ids"`
	ClientsPerNode int         `json:"clients_per_node"`
	TTL            Duration    `json:"ttl"`
	Mode           string      `json:"mode"` // "quorum" or "unsafe"
	Grants         int         `json:"grants"`
	PerSecond      float64     `json:"grants_per_second"`
	Latency        Percentiles `json:"acquire_latency"`
	// Handover: from a Release to the grant of a waiter already in
	// Acquire (Handovers of them).
	Handovers      int         `json:"handovers"`
	Handover       Percentiles `json:"handover_latency"`
	AfterHeal      Spread      `json:"l4_grant_after_heal"`
	PausedOverlaps Finding     `json:"paused_overlaps"`
	// Writes through the Fence: late ones of former holders rejected,
	// accepted or harmless, and fresh ones rejected.
	LateRejected  int            `json:"fence_late_rejected"`
	LateAccepted  int            `json:"fence_late_accepted"`
	LateHarmless  int            `json:"fence_late_harmless"`
	StaleRejected int            `json:"fence_fresh_rejected"`
	Linearizable  bool           `json:"linearizable"`
	Porcupine     string         `json:"porcupine"`
	AcquireErrors map[string]int `json:"acquire_errors,omitempty"`
	FirstOther    string         `json:"first_other_error,omitempty"`
}

// TaskReport is what the task workload recorded and the checker found.
type TaskReport struct {
	SubmittersPerNode int            `json:"submitters_per_node"`
	Deadline          Duration       `json:"deadline"`
	AttemptTimeout    Duration       `json:"attempt_timeout"`
	Submitted         int            `json:"submitted"`
	Done              int            `json:"done"`
	Failed            map[string]int `json:"failed"` // by kind of error
	SubmitterCrashed  int            `json:"submitter_crashed"`
	Open              int            `json:"open"`
	PerSecond         float64        `json:"done_per_second"`
	Latency           Percentiles    `json:"latency"`
	Executions        int            `json:"executions"`
	Duplicated        int            `json:"duplicated"` // tasks without an id that ran more than once
	DuplicateRuns     int            `json:"duplicate_runs"`
	IdemRuns          int            `json:"idempotent_runs"`
	IdemIDs           int            `json:"idempotency_ids"`
	T2Cross           Finding        `json:"t2_across_workers"`
	Unmatched         Finding        `json:"unmatched_results"`
	TickEvery         Duration       `json:"schedule_every"`
	Ticks             int            `json:"ticks"`
	TicksRun          int            `json:"ticks_run"`
	TicksMissed       int            `json:"ticks_missed"`
	TicksDoubled      int            `json:"ticks_doubled"`
	DoubledTicks      []int64        `json:"doubled_ticks,omitempty"` // the first few
	WorkloadErrors    []string       `json:"workload_errors,omitempty"`
}

// VoterReport is the voter configuration over the run.
type VoterReport struct {
	// Changes are each change of the group, epoch, voters or voters'
	// leader that the runner saw, sampling every 50 ms, in order.
	Changes []ConfigChange `json:"changes"`
	// Configurations counts the distinct configurations (group, epoch
	// and voters) among Changes, and Groups the groups.
	Configurations int `json:"configurations"`
	Groups         int `json:"groups"`
	// LongestBelowTarget is the longest stretch of time with fewer
	// voters than the target (0: never), and LongestBelowFrom when it
	// began, from the start of the schedule (nil if never).
	LongestBelowTarget Duration  `json:"longest_below_target"`
	LongestBelowFrom   *Duration `json:"longest_below_from,omitempty"`
}

// ConfigChange is one configuration of the voter group.
type ConfigChange struct {
	At     Duration `json:"at"`     // first seen, from the start of the schedule; negative: before it
	Group  string   `json:"group"`  // the group's ID in hex, as gossip carries it
	Epoch  uint64   `json:"epoch"`  // the configuration's number: the log index of its entry; 0: not known (compacted)
	Voters []string `json:"voters"` // sorted
	Leader string   `json:"leader"` // the voters' Raft leader; "": none known
	Target int      `json:"target"` // the number of voters the group aimed at: odd, at most the configured voters and the alive nodes
}
