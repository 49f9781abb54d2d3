package check

import (
	"testing"
	"time"
)

func TestCheckElection(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name       string
		leases     []LeaseRecord
		e1, e2, e3 int
	}{
		{"empty", nil, 0, 0, 0},
		{"clean handovers", []LeaseRecord{
			{Node: "n1", ID: "a", Term: 1, Start: at(0), End: at(1)},
			{Node: "n2", ID: "b", Term: 2, Start: at(2), End: at(3)},
			{Node: "n1", ID: "a", Term: 5, Start: at(3), End: at(4)},
		}, 0, 0, 0},
		{"same term two holders", []LeaseRecord{
			{Node: "n1", ID: "a", Term: 3, Start: at(0), End: at(1)},
			{Node: "n2", ID: "b", Term: 3, Start: at(2), End: at(3)},
		}, 1, 1, 0},
		{"term goes down", []LeaseRecord{
			{Node: "n1", ID: "a", Term: 4, Start: at(0), End: at(1)},
			{Node: "n2", ID: "b", Term: 2, Start: at(2), End: at(3)},
		}, 0, 1, 0},
		{"overlap", []LeaseRecord{
			{Node: "n1", ID: "a", Term: 1, Start: at(0), End: at(2)},
			{Node: "n2", ID: "b", Term: 2, Start: at(1), End: at(3)},
		}, 0, 0, 1},
		{"open lease overlaps", []LeaseRecord{
			{Node: "n1", ID: "a", Term: 1, Start: at(0)},
			{Node: "n2", ID: "b", Term: 2, Start: at(1), End: at(2)},
		}, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CheckElection(tt.leases, at(10))
			if len(v.E1) != tt.e1 || len(v.E2) != tt.e2 || len(v.E3) != tt.e3 {
				t.Fatalf("violations E1=%q E2=%q E3=%q; want counts %d %d %d", v.E1, v.E2, v.E3, tt.e1, tt.e2, tt.e3)
			}
			if v.OK() != (tt.e1+tt.e2+tt.e3 == 0) {
				t.Fatalf("OK() = %v", v.OK())
			}
		})
	}
}
