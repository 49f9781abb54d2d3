package chaos

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

// TestPropertyVerdicts builds reports from small histories and checks the
// verdict of each Property, the table, the reasons printed on stderr and
// the exit status.
func TestPropertyVerdicts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

	// Election.
	lease := func(node string, term uint64, start, end float64) check.LeaseRecord {
		return check.LeaseRecord{Node: node, ID: "cand-" + node, Term: term, Start: at(start), End: at(end)}
	}
	cleanLeases := []check.LeaseRecord{lease("n5", 1, 0, 2), lease("n4", 2, 3.5, 9)}
	crashOfN5 := phaseResult{phase: phase{Fault: faultCrash, Node: "n5", Length: sec(4)}, At: sec(2), CrashedAt: at(2),
		LeaderCrash: true, Detected: true, DetectTook: sec(0.4), Converged: true, Took: sec(0.4)}

	// Clock.
	cleanClock := check.ClockCheck{Observations: 300, Judged: 1100, C3Max: 1234 * time.Microsecond}
	for i := range 100 {
		cleanClock.Errors = append(cleanClock.Errors, time.Duration(100-i)*time.Microsecond)
		cleanClock.Uncertainty = append(cleanClock.Uncertainty, time.Duration(i+1)*20*time.Microsecond)
	}
	withC1, withC3 := cleanClock, cleanClock
	for i := range 5 {
		withC1.C1Misses = append(withC1.C1Misses, fmt.Sprintf("n%d: interval ±1ms misses the reference's time by 300µs", i+1))
	}
	withC3.C3Misses = []string{"n1 and n9 differ by 9ms, more than ±1ms and ±2ms"}

	// Locks.
	grant := func(id string, token uint64, node string, start, end float64) check.Grant {
		return check.Grant{ID: id, Token: token, Node: node, Called: at(start - 0.1), Start: at(start), End: at(end)}
	}
	cleanGrants := []check.Grant{grant("lock-0", 1, "n1", 0.1, 1), grant("lock-0", 2, "n2", 1.5, 2), grant("lock-1", 1, "n3", 0.2, 3)}
	locks := func(grants []check.Grant, late check.LateWrites, heals ...float64) lockRecord {
		h := check.LockHistory{Grants: grants, Late: late, Begin: at(0), End: at(10)}
		for _, s := range heals {
			h.Heals = append(h.Heals, at(s))
		}
		return newLockRecord(h, false)
	}

	// Tasks.
	sub := func(task, idem, node string, called, returned float64) check.Submission {
		s := check.Submission{Task: task, Idem: idem, Submitter: node, Incarnation: 1, Called: at(called), Deadline: at(called + 3), Result: "done:" + task}
		if returned >= 0 {
			s.Returned = at(returned)
		} else {
			s.Result = ""
		}
		return s
	}
	ex := func(task, idem, node string, start, end float64) check.Execution {
		return check.Execution{Task: task, Idem: idem, Node: node, Incarnation: 1, Start: at(start), End: at(end)}
	}
	cleanSubs := []check.Submission{sub("a", "", "n1", 0, 0.1), sub("b", "x", "n2", 0, 0.2)}
	cleanExecs := []check.Execution{ex("a", "", "n2", 0.01, 0.09), ex("b", "x", "n3", 0.01, 0.15)}
	tasks := func(subs []check.Submission, execs []check.Execution) taskRecord {
		return newTaskRecord(check.TaskHistory{Submissions: subs, Executions: execs, Begin: at(0), End: at(10)})
	}

	// V2: tokens 1-3 at the start, the lock ids' up to 5 and terms up to 3
	// during the run; 7, 8 and term 4 at the end.
	cleanV2 := func() v2Record {
		return v2Record{
			Start:    idleRound{Tokens: []idleToken{{ID: "idle-0", Token: 1}, {ID: "idle-1", Token: 2}}, Term: 3},
			Final:    idleRound{Tokens: []idleToken{{ID: "idle-0", Token: 7}, {ID: "idle-1", Token: 8}}, Term: 4},
			MaxToken: 5, MaxTokenID: "lock-2", MaxTerm: 3,
		}
	}

	clean := func() *record {
		return &record{
			FinalConverged: true, FinalTook: sec(0.2),
			Phases:   []phaseResult{crashOfN5},
			Election: newElectionRecord(cleanLeases, []time.Time{at(2)}, &cleanLeases[1], nil, at(10)),
			Clock:    clockRecord{Check: cleanClock},
			Locks:    locks(cleanGrants, check.LateWrites{Rejected: 2, Harmless: 1}, 1),
			Tasks:    tasks(cleanSubs, cleanExecs),
			Events:   eventRecord{Verdict: check.EventVerdict{Published: 10, Delivered: 30}},
			Groups:   groupRecord{Verdict: check.GroupVerdict{Delivered: 12, Redelivered: 2, Acked: 10}},
			V2:       cleanV2(),
		}
	}
	allHeld := "M E1 E2 E3 E4 C1 C2 C2' C3 L1 L2 L3 L3+ F L4 V2 T1 T2 T3 S1 S2 S3"

	tests := []struct {
		name        string
		change      func(r *record)
		wantHeld    string // the ids held, in table order
		wantBroken  string // the ids broken
		wantNot     string // the ids not exercised
		wantStderr  []string
		wantInTable []string // regexps the table must match
	}{
		{
			name: "clean", change: func(*record) {}, wantHeld: allHeld,
			wantInTable: []string{
				`\nE1 +at most one leader per term +held +2 leases, 2 distinct leaders \(n4 n5\), terms 1 to 2\n`,
				`\nE4 +new leader soon after the leader crashes +held +failover median 1.5s, max 1.5s over 1 leader crashes \(bound up to 2.15s\)\n`,
				`\nC1 +every Interval contains the reference's time +held +\|error\| p50 50µs, p99 99µs; uncertainty p50 1ms, p99 1.98ms; 1100 readings judged\n`,
				`\nL4 +a lock is granted soon after a heal +held +first grant after a heal: median 500ms, max 500ms over 1 heals`,
				`\nF +the Fence rejects a paused holder's late write +held +3 late writes: 2 rejected, 1 harmless`,
				`\nV2 +tokens and terms keep increasing across restarts, idle ids and groups included +held +idle-0 token 7 > max 5; idle-1 token 8 > max 5; "idle" term 4 > max 3\n`,
				`\n22 held\.\n`,
			},
		},
		{
			name:     "nothing exercised",
			change:   func(r *record) { *r = record{FinalConverged: true} },
			wantHeld: "M", wantNot: "E1 E2 E3 E4 C1 C2 C2' C3 L1 L2 L3 L3+ F L4 V2 T1 T2 T3 S1 S2 S3",
			wantInTable: []string{`\nE4 +new leader soon after the leader crashes +not exercised +no leader crashed\n`, `\nV2 +tokens and terms keep increasing .* +not exercised +not run\n`, `\n1 held, 21 not exercised\.\n`},
		},
		{
			name:     "not converged",
			change:   func(r *record) { r.FinalConverged, r.FinalTook = false, finalWait },
			wantHeld: strings.TrimPrefix(allHeld, "M "), wantBroken: "M",
			wantStderr: []string{"gossipsync sim: property M (views re-converge after the final heal) BROKEN: not converged 30s after the final heal (limit 30s)\n"},
		},
		{
			name: "leases overlap and a term reused",
			change: func(r *record) {
				leases := []check.LeaseRecord{lease("n5", 3, 0, 2), lease("n4", 3, 1.75, 5), lease("n3", 2, 6, 9)}
				r.Election = newElectionRecord(leases, []time.Time{at(2)}, nil, nil, at(10))
			},
			wantHeld:   "M C1 C2 C2' C3 L1 L2 L3 L3+ F L4 V2 T1 T2 T3 S1 S2 S3",
			wantBroken: "E1 E2 E3 E4",
			wantStderr: []string{
				"property E1 (at most one leader per term) BROKEN: term 3 held by n5/cand-n5 and n4/cand-n4\n",
				"property E3 (leader leases never overlap in time) BROKEN: n4/cand-n4 (term 3) started 250ms before n5 (term 3) ended",
				"property E4 (new leader soon after the leader crashes) BROKEN: crash of n5 at 2.0s: new leader n3 after 4s, bound 2.15s (crash n5)\n",
			},
		},
		{
			name:       "C1 and C3 missed",
			change:     func(r *record) { r.Clock.Check = withC1; r.Clock.Check.C3Misses = withC3.C3Misses },
			wantBroken: "C1 C3", wantHeld: "M E1 E2 E3 E4 C2 C2' L1 L2 L3 L3+ F L4 V2 T1 T2 T3 S1 S2 S3",
			wantStderr:  []string{"property C1 (every Interval contains the reference's time) BROKEN: n1: interval ±1ms misses the reference's time by 300µs (and 4 more)\n"},
			wantInTable: []string{`\n +n1: interval ±1ms misses`, `\n +\(and 2 more\)\n`},
		},
		{
			name: "duplicate token",
			change: func(r *record) {
				r.Locks = locks(append(cleanGrants, grant("lock-1", 1, "n4", 4, 5)), check.LateWrites{}, 1)
			},
			wantBroken: "L1 L2 L3+", wantHeld: "M E1 E2 E3 E4 C1 C2 C2' C3 L3 L4 V2 T1 T2 T3 S1 S2 S3", wantNot: "F",
			wantStderr: []string{"property L1 (no two grants of a lock carry one token) BROKEN: lock-1: token 1 granted to n3", "property L3+ (the history is linearizable (porcupine)) BROKEN: NOT linearizable"},
		},
		{
			name: "holds overlap, late write accepted, no grant after a heal",
			change: func(r *record) {
				r.Locks = locks(append(cleanGrants, grant("lock-1", 2, "n4", 2.5, 5)), check.LateWrites{Accepted: 1}, 1, 6)
			},
			wantBroken: "L3 L3+ F L4", wantHeld: "M E1 E2 E3 E4 C1 C2 C2' C3 L1 L2 V2 T1 T2 T3 S1 S2 S3",
			wantStderr: []string{
				"property L3 (no two holds of a lock overlap in time) BROKEN: lock-1: n4 (token 2) granted at ",
				"property F (the Fence rejects a paused holder's late write) BROKEN: the Fence accepted 1 late writes",
				"property L4 (a lock is granted soon after a heal) BROKEN: heal 2: no grant after it\n",
			},
		},
		{
			name: "task lost, idempotency id run twice at once, deadline missed",
			change: func(r *record) {
				late := sub("d", "", "n1", 2, 5.5)
				r.Tasks = tasks(append(cleanSubs, sub("e", "", "n3", 1, -1), late), append(cleanExecs, ex("z", "x", "n3", 0.1, 0.3)))
			},
			wantBroken: "T1 T2 T3", wantHeld: "M E1 E2 E3 E4 C1 C2 C2' C3 L1 L2 L3 L3+ F L4 V2 S1 S2 S3",
			wantStderr: []string{"property T1 (no task of a living submitter is lost) BROKEN: e ", "property T2 (a worker runs an idempotency id once at a time) BROKEN: x: ran on n3#1 from ", "property T3 (every Run returns by its deadline) BROKEN: d (submitted by n1) returned 500ms after its deadline"},
		},
		{
			name: "a group event with two holders at once",
			change: func(r *record) {
				r.Groups.Verdict.Overlap = check.Violations{N: 1, First: []string{"chaos/workers: offset 7 handed to n2#1 while n1#1 held it"}}
			},
			wantBroken: "S3", wantHeld: "M E1 E2 E3 E4 C1 C2 C2' C3 L1 L2 L3 L3+ F L4 V2 T1 T2 T3 S1 S2",
			wantStderr: []string{"property S3 (a group hands an event to one member at a time, again after AckWait, until acked) BROKEN: chaos/workers: offset 7 handed to n2#1 while n1#1 held it"},
		},
	}
	tests = append(tests, []struct {
		name        string
		change      func(r *record)
		wantHeld    string
		wantBroken  string
		wantNot     string
		wantStderr  []string
		wantInTable []string
	}{
		{
			name: "V2: a final token and term not above earlier ones",
			change: func(r *record) {
				r.V2.Final.Tokens[1].Token, r.V2.Final.Term = 5, 2
			},
			wantHeld: strings.Replace(allHeld, " V2", "", 1), wantBroken: "V2",
			wantStderr:  []string{"property V2 (tokens and terms keep increasing across restarts, idle ids and groups included) BROKEN: final token of idle-1 is 5, not above 5 (of lock-2) (and 1 more)\n"},
			wantInTable: []string{`\n +final term of group "idle" is 2, not above 3\n`, `idle-1 token 5 <= max 5; "idle" term 2 <= max 3\n`},
		},
		{
			name:     "V2: no quorum at the end",
			change:   func(r *record) { r.V2.Final = idleRound{Err: "acquire idle-0 on n1: lockmgr: no quorum"} },
			wantHeld: strings.Replace(allHeld, " V2", "", 1), wantNot: "V2",
			wantInTable: []string{`\nV2 .* +not exercised +final round failed: acquire idle-0 on n1: lockmgr: no quorum\n`},
		},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := clean()
			tt.change(rep)
			got := map[string][]string{}
			for _, p := range rep.properties() {
				got[p.Verdict] = append(got[p.Verdict], p.ID)
			}
			for verdict, want := range map[string]string{held: tt.wantHeld, broken: tt.wantBroken, notExercised: tt.wantNot} {
				if g := strings.Join(got[verdict], " "); g != want {
					t.Errorf("%s: %q, want %q", verdict, g, want)
				}
			}
			var out bytes.Buffer
			sum := summarize(rep)
			sum.print(&out)
			code, problems := sum.Status(), strings.Join(append(sum.Problems, ""), "\n")
			if wantCode := min(1, len(tt.wantBroken)); code != wantCode || sum.OK != (code == 0) || sum.Broken() == sum.OK {
				t.Errorf("exit status = %d, OK = %v, Broken = %v; want %d", code, sum.OK, sum.Broken(), wantCode)
			}
			if code == 0 && problems != "" {
				t.Errorf("problems %q, want none", problems)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(problems, strings.TrimPrefix(w, "gossipsync sim: ")) {
					t.Errorf("problems lack %q:\n%s", w, problems)
				}
			}
			for _, re := range tt.wantInTable {
				if !regexp.MustCompile(re).MatchString(out.String()) {
					t.Errorf("report does not match %q:\n%s", re, out.String())
				}
			}
		})
	}
}

// E4's bound counts from the voters' new leader when the crashed leader
// also led the voters: a renewal it proposed just before the crash holds
// from when their new leader commits it.
func TestFailoverBoundAfterVotersLeaderCrash(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	at := func(s float64) time.Time { return t0.Add(sec(s)) }
	for _, tt := range []struct {
		name        string
		voterLeader bool
		newLease    float64 // after the crash at 2s
		want        string
	}{
		{"the voters' leader, within the bound from their new leader", true, 2.6, held},
		{"the voters' leader, later than that", true, 2.8, broken},
		{"not the voters' leader: from detection", false, 2.6, broken},
		{"not the voters' leader, within the bound", false, 2.1, held},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &record{
				Phases: []phaseResult{{phase: phase{Fault: faultCrash, Node: "n5", Length: sec(4)}, At: sec(2), CrashedAt: at(2),
					LeaderCrash: true, Detected: true, DetectTook: sec(0.4), VoterLeader: tt.voterLeader}},
				Voters: voterRecord{Changes: []voterChange{
					{At: sec(0.5), Config: voterConfig{Leader: "n5"}},
					{At: sec(2.3), Config: voterConfig{}},
					{At: sec(3), Config: voterConfig{Leader: "n2"}},
				}},
			}
			r.Election.Leases = []check.LeaseRecord{
				{Node: "n5", ID: "cand-n5", Term: 1, Start: at(0), End: at(2)},
				{Node: "n4", ID: "cand-n4", Term: 2, Start: at(2 + tt.newLease), End: at(9)},
			}
			if p := r.failoverProperty(); p.Verdict != tt.want {
				t.Errorf("E4 %s (%s); want %s", p.Verdict, strings.Join(p.First, "; "), tt.want)
			}
		})
	}
}
