package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim"
)

func TestLockVerdictAndExitStatus(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	g := func(id string, token uint64, node string, start, end float64) sim.Grant {
		return sim.Grant{ID: id, Token: token, Node: node, Called: at(start - 0.1), Start: at(start), End: at(end)}
	}
	clean := []sim.Grant{g("lock-0", 1, "n1", 0.1, 1), g("lock-0", 2, "n2", 1.5, 2), g("lock-1", 1, "n3", 0.2, 3)}
	tests := []struct {
		name       string
		grants     []sim.Grant
		late       sim.LateWrites
		wantCode   int
		wantReport []string
		wantStderr []string
	}{
		{
			name: "clean", grants: clean, late: sim.LateWrites{Rejected: 2, Harmless: 1}, wantCode: 0,
			wantReport: []string{
				"quorum mode: 3 grants, 0.3/s\n",
				"L1 unique tokens     held\n", "L2 tokens increase   held\n", "L3 holds disjoint    held\n",
				"L4 grant after heal  median 500ms, max 500ms (1 of 1 heals followed by a grant)",
				"fence                late writes of paused holders: 2 rejected, 0 ACCEPTED after a newer grant, 1 harmless",
				"porcupine            linearizable\n",
			},
		},
		{
			name: "duplicate token", grants: append(clean, g("lock-1", 1, "n4", 4, 5)), wantCode: 1,
			wantReport: []string{"L1 unique tokens     BROKEN: lock-1: token 1 granted to n3", "porcupine            NOT linearizable: ids [lock-1]"},
			wantStderr: []string{"gossipsync sim: lock property L1 (no two grants of an id carry one token) BROKEN: ", "gossipsync sim: lock history: porcupine: NOT linearizable"},
		},
		{
			name: "overlap", grants: append(clean, g("lock-1", 2, "n4", 2.5, 5)), wantCode: 1,
			wantReport: []string{"L3 holds disjoint    BROKEN: lock-1: n4 (token 2) granted at "},
			wantStderr: []string{"lock property L3 (no two holds of an id overlap in time) BROKEN"},
		},
		{
			name: "stale write accepted", grants: clean, late: sim.LateWrites{Accepted: 1}, wantCode: 1,
			wantStderr: []string{"the Fence accepted 1 late writes of paused holders after a newer grant"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sim.LockHistory{Grants: tt.grants, Late: tt.late, Heals: []time.Time{at(1)}, Begin: at(0), End: at(10)}
			rep := &report{FinalConverged: true, Locks: newLockReport(h, false)}
			var out, stderr bytes.Buffer
			rep.print(&out)
			code := exitStatus(rep, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantReport {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
