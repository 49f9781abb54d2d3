package chaos

import (
	"context"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// The outage scenario keeps the voters' state in DataDirs: every node
// crashes at once and comes back, and the group goes on (one group from
// start to end, its voters under the same IDs), with S1, S2 and V2
// held. The same schedule with the state in memory founds a new group at
// each outage and loses the event log: S1 or S2 breaks, so the checkers
// can fail here.
func TestOutage(t *testing.T) {
	for _, disk := range []bool{true, false} {
		name := map[bool]string{true: "disk", false: "memory"}[disk]
		t.Run(name, func(t *testing.T) {
			cfg, err := Options{Scenario: "outage", Duration: 10 * time.Second, Seed: 2}.config()
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.Disk {
				t.Fatal("the outage scenario does not give the nodes a DataDir")
			}
			cfg.Disk = disk
			var rep *Report
			synctest.Test(t, func(t *testing.T) {
				if rep, err = simulate(context.Background(), io.Discard, cfg); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Second) // memberlist's goroutines, as simulateInBubble
			})
			verdicts := map[string]string{}
			var brokenIDs []string
			for _, p := range rep.Properties {
				verdicts[p.ID] = p.Verdict
				if p.Verdict == broken {
					brokenIDs = append(brokenIDs, p.ID)
				}
			}
			outages := 0
			for _, p := range rep.Schedule {
				if p.Fault == string(faultOutage) {
					outages++
				}
			}
			if outages == 0 {
				t.Fatalf("no outage in the schedule %+v", rep.Schedule)
			}
			if !disk {
				if !slices.ContainsFunc(brokenIDs, func(id string) bool { return id == "S1" || id == "S2" }) {
					t.Errorf("in memory, %d outages broke %v; want S1 or S2 (the event log is lost)", outages, brokenIDs)
				}
				return
			}
			if len(brokenIDs) > 0 || rep.ExitStatus != 0 {
				t.Errorf("with DataDirs, %d outages broke %v (exit status %d)", outages, brokenIDs, rep.ExitStatus)
			}
			for _, id := range []string{"M", "E1", "L1", "L2", "V2", "S1", "S2"} {
				if verdicts[id] != held {
					t.Errorf("property %s: %q, want held", id, verdicts[id])
				}
			}
			if rep.Voters.Groups != 1 {
				t.Errorf("with DataDirs, the voters were in %d groups, want one", rep.Voters.Groups)
			}
		})
	}
}
