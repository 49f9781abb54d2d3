package chaos

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// simResult is what the tests read back from a -json report.
type simResult struct {
	Replay     string
	OK         bool
	ExitStatus int `json:"exit_status"`
	Properties []Property
	Schedule   []schedulePhase
	Voters     votersJSON
	Network    struct {
		PerLockOp struct {
			LockOps       int     `json:"lock_ops"`
			MessagesPerOp float64 `json:"messages_per_lock_op"`
		} `json:"per_lock_op"`
	}
}

// votersJSON is the voters section of a -json report.
type votersJSON struct {
	Changes []struct {
		At     string
		Group  string
		Epoch  uint64
		Voters []string
		Leader string
		Target int
	}
	Configurations int
	Groups         int
	Longest        string `json:"longest_below_target"`
	From           string `json:"longest_below_from"`
}

// schedulePhase is a phase of a -json report's schedule.
type schedulePhase struct {
	Fault, Node string
	VoterLeader bool `json:"voters_leader"`
	Voter       bool
}

// simulateInBubble runs Simulate with the options args give (the
// flags of gossipsync sim: -scenario, -nodes, -duration, -seed,
// -unsafe) inside a synctest bubble and returns its exit status, its
// output and problems, and its JSON report. Time in a bubble moves only
// while every goroutine waits, so the run's timing does not depend on
// the machine (nor on the race detector's slowness), a 10 s scenario
// takes well under a second of wall time, and a loop that retries
// without waiting on a timer (an election storm, say) stops virtual
// time: the run never ends and the test's -timeout reports it.
func simulateInBubble(t *testing.T, args ...string) (code int, out string, rep simResult) {
	t.Helper()
	var o Options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.StringVar(&o.Scenario, "scenario", "", "")
	fs.IntVar(&o.Nodes, "nodes", 0, "")
	fs.DurationVar(&o.Duration, "duration", 0, "")
	fs.Int64Var(&o.Seed, "seed", 1, "")
	fs.BoolVar(&o.Unsafe, "unsafe", false, "")
	drift := fs.Float64("drift", -1, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if *drift >= 0 {
		sc, _ := lookupScenario(cmp.Or(o.Scenario, defaultScenario))
		o.Clocks = &Clocks{Skew: sc.Skew, Drift: *drift}
	}
	var data bytes.Buffer
	began := time.Now()
	synctest.Test(t, func(t *testing.T) {
		var stdout bytes.Buffer
		r, err := Simulate(context.Background(), &stdout, o)
		if err != nil {
			t.Fatalf("Simulate: %v", err)
		}
		code = r.Status()
		out = stdout.String() + strings.Join(r.Problems, "\n")
		if err := r.WriteJSON(&data); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		// memberlist and serf leave goroutines behind their Shutdown (a
		// dial in flight, a reconnect timer); the bubble ends only once
		// they have.
		time.Sleep(10 * time.Second)
	})
	t.Logf("wall time %v", time.Since(began))
	if err := json.Unmarshal(data.Bytes(), &rep); err != nil {
		t.Fatalf("the JSON report does not decode: %v\n%s", err, data.Bytes())
	}
	return code, out, rep
}

// TestScenarios runs every scenario for 10 s (rollout: 15 s, a full
// rollout of 5 nodes; scale: 6 s, from 5 nodes to 11 and back) on 5
// nodes with three seeds
// and checks that no property breaks, that the properties each scenario
// is for were exercised, that its faults were made, and the report's
// replay line and table.
func TestScenarios(t *testing.T) {
	tests := []struct {
		scenario   string
		exercised  []string // properties that must be held, not merely not broken
		faults     []string // faults the schedule must have made
		duration   string   // -duration; "" = 10s
		restartAll bool     // the schedule must restart every node
	}{
		{"partition", []string{"M", "E1", "E3", "C1", "C3", "L1", "L2", "L3", "L4", "T1", "T3"}, []string{"heal"}, "", false},
		{"crash", []string{"E1", "E3", "L1", "L3", "T1"}, []string{"crash"}, "", false},
		{"pause", []string{"E3", "L3", "T1"}, []string{"pause"}, "", false},
		{"skew", []string{"C1", "C2", "C2'", "C3"}, []string{"jump"}, "", false},
		{"loss", []string{"M", "L1", "T1", "T3"}, []string{"loss"}, "", false},
		{"churn", []string{"M", "E1", "L1", "T1"}, nil, "", false},
		{scenario: "rollout", exercised: []string{"M", "E1", "E2", "L1", "L3", "V2", "T1"}, faults: []string{"crash", "restart"}, duration: "15s", restartAll: true},
		{scenario: "scale", exercised: []string{"M", "E1", "E3", "C1", "L1", "L3", "V2", "T1"}, faults: []string{"join", "leave"}, duration: "6s"},
		{"drift", []string{"E1", "E3", "C1", "C3", "L1", "L3", "T1"}, nil, "", false},
		{"all", []string{"M", "E1", "C1", "L1", "L4", "V2", "T1"}, nil, "", false},
		{"outage", []string{"M", "E1", "L1", "L2", "V2", "S1", "S2", "T1"}, []string{"outage", "restart-all"}, "", false},
	}
	for _, tt := range tests {
		for _, seed := range []string{"1", "2", "3"} {
			t.Run(tt.scenario+"/seed"+seed, func(t *testing.T) {
				duration := cmp.Or(tt.duration, "10s")
				code, out, rep := simulateInBubble(t, "-scenario", tt.scenario, "-duration", duration, "-seed", seed)
				verdicts := map[string]string{}
				for _, p := range rep.Properties {
					verdicts[p.ID] = p.Verdict
					if p.Verdict == broken {
						t.Errorf("property %s broken: %s", p.ID, strings.Join(p.First, "; "))
					}
				}
				if code != 0 || !rep.OK || rep.ExitStatus != 0 {
					t.Errorf("exit status %d, ok %v; want 0, true\n%s", code, rep.OK, out)
				}
				if c := rep.Network.PerLockOp; c.LockOps == 0 || c.MessagesPerOp <= 0 || !strings.Contains(out, " per lock operation ") {
					t.Errorf("per lock operation: %+v; want lock operations and messages", c)
				}
				for _, id := range tt.exercised {
					if verdicts[id] != held {
						t.Errorf("property %s: %q, want held", id, verdicts[id])
					}
				}
				var made []string
				for _, p := range rep.Schedule {
					made = append(made, p.Fault)
				}
				var restarted []string
				for _, p := range rep.Schedule {
					if p.Fault == string(faultRestart) {
						restarted = append(restarted, p.Node)
					}
				}
				if slices.Sort(restarted); tt.restartAll && !slices.Equal(restarted, nodeNames(5)) {
					t.Errorf("schedule restarted %v, want every node once", restarted)
				}
				for _, f := range tt.faults {
					if !slices.Contains(made, f) {
						t.Errorf("schedule %v made no %s", made, f)
					}
				}
				replay := "go run ./cmd/gossipsync sim -scenario " + tt.scenario + " -nodes 5 -duration " + duration + " -seed " + seed
				if !strings.HasPrefix(rep.Replay, replay) || strings.Count(out, "replay: "+rep.Replay+"\n") != 2 {
					t.Errorf("replay %q, want it to start with %q and to be printed at the start and the end", rep.Replay, replay)
				}
				if !regexp.MustCompile(`\nid +property +verdict +figures\n`).MatchString(out) || !strings.Contains(out, " held") {
					t.Errorf("output lacks the property table")
				}
			})
		}
	}
}

// TestCrashFailsOver runs the crash scenario with a seed whose first
// crash hits the election leader, so that E4 is judged.
func TestCrashFailsOver(t *testing.T) {
	code, out, rep := simulateInBubble(t, "-scenario", "crash", "-duration", "10s", "-seed", strconv.FormatInt(crashFirstAtLeader(t), 10))
	for _, p := range rep.Properties {
		if p.ID == "E4" && p.Verdict != held {
			t.Errorf("E4: %s (%s), want held\n%s", p.Verdict, p.Figures, out)
		}
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}

// TestUnsafeBreaksLocks runs the partition scenario with the locks out of
// quorum mode and event readers that do not keep their place: the report
// must show the locks' properties and the events' broken and the exit
// status must be 1, which proves the checkers can fail.
func TestUnsafeBreaksLocks(t *testing.T) {
	code, out, rep := simulateInBubble(t, "-scenario", "partition", "-duration", "6s", "-seed", "3", "-unsafe")
	var brokenIDs []string
	for _, p := range rep.Properties {
		if p.Verdict == broken {
			brokenIDs = append(brokenIDs, p.ID)
		}
	}
	if code != 1 || rep.OK {
		t.Errorf("exit status %d, ok %v; want 1, false", code, rep.OK)
	}
	if !slices.ContainsFunc(brokenIDs, func(id string) bool { return id == "L1" || id == "L2" || id == "L3" }) {
		t.Errorf("broken: %v; want some of L1-L3\n%s", brokenIDs, out)
	}
	if !slices.ContainsFunc(brokenIDs, func(id string) bool { return id == "S1" || id == "S2" }) {
		t.Errorf("broken: %v; want S1 or S2 (the readers skip what a partition held back)\n%s", brokenIDs, out)
	}
	if !strings.Contains(out, "UNSAFE mode") || !strings.Contains(out, "UNSAFE: resume at Latest") || !strings.Contains(out, "property L") {
		t.Errorf("output lacks the unsafe mode or the broken lock properties")
	}
}

// TestDriftPastTheBound runs the drift scenario with clocks at ±20 %,
// past the bound the leases and the cluster clocks assume: the report
// must show properties broken, and only those that depend on the rates
// (the clocks' C1-C3, the leases' E3, L3 and what follows from L3).
func TestDriftPastTheBound(t *testing.T) {
	code, out, rep := simulateInBubble(t, "-scenario", "drift", "-duration", "20s", "-seed", "2", "-drift", "200000")
	var brokenIDs []string
	for _, p := range rep.Properties {
		if p.Verdict == broken {
			brokenIDs = append(brokenIDs, p.ID)
		}
	}
	t.Logf("broken past the bound: %v", brokenIDs)
	rateBound := []string{"C1", "C2'", "C3", "E3", "L3", "L3+", "F"}
	if code != 1 || len(brokenIDs) == 0 {
		t.Errorf("exit status %d, broken %v; want 1 and some of %v\n%s", code, brokenIDs, rateBound, out)
	}
	for _, id := range brokenIDs {
		if !slices.Contains(rateBound, id) {
			t.Errorf("%s broken, which does not depend on clock rates\n%s", id, out)
		}
	}
}

// crashFirstAtLeader returns a seed whose crash scenario first crashes
// the election leader, so that E4 is exercised.
func crashFirstAtLeader(t *testing.T) int64 {
	sc, _ := lookupScenario("crash")
	for seed := int64(1); seed < 100; seed++ {
		if s := buildSchedule(seed, 10*time.Second, nodeNames(5), sc); s[0].Target == targetLeader {
			return seed
		}
	}
	t.Fatal("no seed below 100 crashes the leader first")
	return 0
}
