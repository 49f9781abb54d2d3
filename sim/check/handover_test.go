package check

import (
	"testing"
	"time"
)

// A handover counts only a Release followed by a grant whose Acquire was
// already waiting; lost leases and later callers do not count.
func TestHandovers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	grants := []Grant{
		{ID: "a", Token: 1, Called: at(0), Start: at(1), End: at(100), Released: true},
		{ID: "a", Token: 2, Called: at(50), Start: at(103), End: at(200), Released: false},    // waited: 3 ms
		{ID: "a", Token: 3, Called: at(150), Start: at(1450), End: at(1500), Released: true},  // after a lost lease: none
		{ID: "a", Token: 4, Called: at(1600), Start: at(1601), End: at(1700), Released: true}, // called after the release: none
		{ID: "b", Token: 1, Called: at(0), Start: at(0), End: at(10), Released: true},
		{ID: "b", Token: 2, Called: at(5), Start: at(17), End: at(30), Released: true}, // 7 ms
	}
	got := Handovers(grants, nil)
	if len(got) != 2 || got[0] != 3*time.Millisecond || got[1] != 7*time.Millisecond {
		t.Fatalf("Handovers = %v, want [3ms 7ms]", got)
	}
	if got := Handovers(grants, func(g Grant) bool { return g.ID == "b" }); len(got) != 1 || got[0] != 7*time.Millisecond {
		t.Errorf("Handovers of b = %v, want [7ms]", got)
	}
	v := CheckLocks(LockHistory{Grants: grants, Begin: t0, End: at(2000)})
	if v.Handovers != 2 || v.HandoverP50 != 3*time.Millisecond {
		t.Errorf("verdict: %d handovers, p50 %v; want 2, 3ms", v.Handovers, v.HandoverP50)
	}
}
