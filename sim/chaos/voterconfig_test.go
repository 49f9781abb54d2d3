package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/voters"
)

// readConfig takes the configuration of the highest epoch among the
// members, the voters as its leader reports them and the leader most of
// its members name; nodes outside the group count for nothing.
func TestReadConfig(t *testing.T) {
	five := []string{"n1", "n10", "n2", "n3", "n4"}
	tests := []struct {
		name  string
		infos map[string]voters.Info
		want  voterConfig
		ok    bool
	}{
		{"no group", map[string]voters.Info{"n1": {}, "n2": {Voters: []string{"n1"}}}, voterConfig{}, false},
		{"one view", map[string]voters.Info{
			"n1": {Group: 7, Leader: "n1", Voters: five, Role: "leader", Epoch: 40},
			"n9": {Group: 7, Leader: "n1", Voters: []string{"n1", "n9"}}, // a client: gossip's view
		}, voterConfig{Group: 7, Epoch: 40, Voters: []string{"n1", "n2", "n3", "n4", "n10"}, Leader: "n1"}, true},
		{"a member behind", map[string]voters.Info{
			"n1": {Group: 7, Leader: "n2", Voters: []string{"n1", "n2", "n3"}, Role: "voter", Epoch: 12},
			"n2": {Group: 7, Leader: "n2", Voters: five, Role: "leader", Epoch: 30},
			"n3": {Group: 7, Leader: "n2", Voters: five, Role: "voter", Epoch: 30},
		}, voterConfig{Group: 7, Epoch: 30, Voters: []string{"n1", "n2", "n3", "n4", "n10"}, Leader: "n2"}, true},
		{"a leader cut off", map[string]voters.Info{
			"n1": {Group: 7, Leader: "n1", Voters: []string{"n1", "n2", "n3"}, Role: "leader", Epoch: 9},
			"n2": {Group: 7, Leader: "n3", Voters: []string{"n1", "n2", "n3"}, Role: "voter", Epoch: 9},
			"n3": {Group: 7, Leader: "n3", Voters: []string{"n1", "n2", "n3"}, Role: "leader", Epoch: 9},
		}, voterConfig{Group: 7, Epoch: 9, Voters: []string{"n1", "n2", "n3"}, Leader: "n3"}, true},
		{"no leader known", map[string]voters.Info{
			"n2": {Group: 7, Voters: []string{"n1", "n2", "n3"}, Role: "voter", Epoch: 9},
		}, voterConfig{Group: 7, Epoch: 9, Voters: []string{"n1", "n2", "n3"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readConfig(tt.infos)
			if ok != tt.ok || !got.equal(tt.want) {
				t.Errorf("readConfig = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// syntheticVoters returns the voter report of a made-up run: n changes,
// one second apart from -1 s, of a group of three voters that grows to
// five, with a leader change and a stretch below the target.
func syntheticVoters(n int) voterRecord {
	v := voterRecord{LongestBelow: 1200 * time.Millisecond, BelowFrom: 2 * time.Second}
	for i := range n {
		c := voterConfig{Group: 0xabc, Epoch: uint64(10 * (i + 1)), Voters: nodeNames(3), Leader: "n1"}
		if i%2 == 1 {
			c.Voters, c.Leader = nodeNames(5), "n2"
		}
		v.Changes = append(v.Changes, voterChange{At: time.Duration(i-1) * time.Second, Config: c, Target: 5})
	}
	return v
}

// The text section lists each change (the first and last ones of many)
// and sums them up; the JSON holds every change.
func TestVoterReport(t *testing.T) {
	var buf bytes.Buffer
	few := syntheticVoters(3).summary()
	few.print(&buf)
	out := buf.String()
	for _, want := range []string{
		"voter configuration",
		"  time  group  epoch  voters (target)     leader\n",
		" -1.0s  abc       10  n1 n2 n3 (5)        n1\n",
		"  0.0s  abc       20  n1 n2 n3 n4 n5 (5)  n2\n",
		"3 configurations in 1 group (epochs 10 to 30), 3 changes; fewer voters than the target for at most 1.2s (from 2.0s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the section lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	many := syntheticVoters(maxShownChanges + 5).summary()
	many.print(&buf)
	out = buf.String()
	if !strings.Contains(out, "(5 more)") || strings.Count(out, "\n") != maxShownChanges+4 || !strings.Contains(out, " 250  ") || strings.Contains(out, " 110  ") {
		t.Errorf("the section of %d changes does not show the first and last %d with a line for the rest:\n%s", len(many.Changes), maxShownChanges/2, out)
	}
	data, err := json.Marshal(many)
	if err != nil {
		t.Fatal(err)
	}
	var j votersJSON
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Changes) != len(many.Changes) || j.Configurations != len(many.Changes) || j.Groups != 1 || j.Longest != "1.2s" || j.From != "2s" {
		t.Errorf("JSON: %d changes, %d configurations, %d groups, longest below %q from %q; want %d, %d, 1, 1.2s, 2s\n%s",
			len(j.Changes), j.Configurations, j.Groups, j.Longest, j.From, len(many.Changes), len(many.Changes), data)
	}
	if c := j.Changes[1]; c.At != "0s" || c.Group != "abc" || c.Epoch != 20 || !slices.Equal(c.Voters, nodeNames(5)) || c.Leader != "n2" || c.Target != 5 {
		t.Errorf("JSON change 1 = %+v", c)
	}
	none := voterRecord{}.summary()
	if got := none.summary(); got != "no voter group seen" {
		t.Errorf("summary of nothing = %q", got)
	}
}

// TestAimsAtVoters checks that the schedules aim crashes, pauses and
// isolations at the voters' leader, and crashes at another voter, in
// their turn; and that the phase line names those roles.
func TestAimsAtVoters(t *testing.T) {
	aims := map[fault]map[target]bool{}
	for _, name := range []string{"crash", "pause", "partition"} {
		sc, _ := lookupScenario(name)
		for seed := range int64(10) {
			for _, p := range buildSchedule(seed, 2*time.Minute, nodeNames(5), sc) {
				if aims[p.Fault] == nil {
					aims[p.Fault] = map[target]bool{}
				}
				aims[p.Fault][p.Target] = true
			}
		}
	}
	for _, want := range []struct {
		f fault
		t target
	}{{faultCrash, targetVoterLeader}, {faultCrash, targetVoter}, {faultPause, targetVoterLeader}, {faultIsolate, targetVoterLeader}, {faultIsolate, targetLeader}} {
		if !aims[want.f][want.t] {
			t.Errorf("no %s aims at the %v", want.f, want.t)
		}
	}
	res := phaseResult{phase: phase{Fault: faultCrash, Node: "n4", Target: targetVoterLeader}, VoterLeader: true, Holder: true}
	if got, want := res.what(), "crash n4 (voters' leader, lock holder)"; got != want {
		t.Errorf("what = %q, want %q", got, want)
	}
	res = phaseResult{phase: phase{Fault: faultCrash, Node: "n2", Target: targetVoter}, Voter: true}
	if got, want := res.what(), "crash n2 (voter)"; got != want {
		t.Errorf("what = %q, want %q", got, want)
	}
	res = phaseResult{phase: phase{Fault: faultIsolate, Node: "n2", Target: targetVoterLeader}, NoTarget: true}
	if got, want := res.what(), "isolate n2 (no voters' leader)"; got != want {
		t.Errorf("what = %q, want %q", got, want)
	}
}

// seedAiming returns a seed below 100 whose schedule of scenario name,
// for d on 5 nodes, makes f aimed at tg by start at the latest.
func seedAiming(t *testing.T, name string, d time.Duration, f fault, tg target, by time.Duration) int64 {
	t.Helper()
	sc, _ := lookupScenario(name)
	for seed := int64(1); seed < 100; seed++ {
		for _, p := range buildSchedule(seed, d, nodeNames(5), sc) {
			if p.Fault == f && p.Target == tg && p.Start <= by {
				return seed
			}
		}
	}
	t.Fatalf("no seed below 100 makes a %s aimed at the %v by %v", f, tg, by)
	return 0
}

// TestSimAimsAtVoters runs schedules that crash and isolate the voters'
// leader and checks that the runner found it (the phase names the role),
// that every property held, and that the report shows the configuration
// changing: new epochs, each above the one before.
func TestSimAimsAtVoters(t *testing.T) {
	tests := []struct {
		scenario string
		duration time.Duration
		f        fault
	}{
		{"crash", 20 * time.Second, faultCrash},
		{"partition", 10 * time.Second, faultIsolate},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			seed := seedAiming(t, tt.scenario, tt.duration, tt.f, targetVoterLeader, tt.duration-minPhase)
			code, out, rep := simulateInBubble(t, "-scenario", tt.scenario, "-duration", tt.duration.String(), "-seed", fmt.Sprint(seed))
			if code != 0 || !rep.OK {
				t.Errorf("exit status %d, ok %v; want 0, true\n%s", code, rep.OK, out)
			}
			i := slices.IndexFunc(rep.Schedule, func(p schedulePhase) bool { return p.Fault == string(tt.f) && p.VoterLeader })
			// The phase names the node's roles, the voters' leader among
			// them (after the clock reference's, when it is that too).
			if i < 0 || !regexp.MustCompile(string(tt.f)+" "+rep.Schedule[i].Node+` \([^)]*voters' leader`).MatchString(out) {
				t.Errorf("no %s of the voters' leader in the schedule %+v\n%s", tt.f, rep.Schedule, out)
			}
			changes := rep.Voters.Changes
			if len(changes) < 2 || rep.Voters.Configurations < 2 || !strings.Contains(out, "voter configuration") {
				t.Fatalf("%d configuration changes, %d configurations; want the configuration to change\n%s", len(changes), rep.Voters.Configurations, out)
			}
			for k, c := range changes {
				if c.Group == "" || len(c.Voters) == 0 || c.Target < 1 {
					t.Errorf("change %d: %+v", k, c)
				}
				if k > 0 && c.Group == changes[k-1].Group && c.Epoch != 0 && c.Epoch < changes[k-1].Epoch {
					t.Errorf("change %d: epoch %d after %d", k, c.Epoch, changes[k-1].Epoch)
				}
			}
		})
	}
}
