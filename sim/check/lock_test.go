package check

import (
	"strings"
	"testing"
	"time"
)

func TestCheckLocks(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	g := func(id string, token uint64, node string, called, start, end float64) Grant {
		return Grant{ID: id, Token: token, Node: node, Called: at(called), Start: at(start), End: at(end)}
	}
	clean := []Grant{
		g("a", 1, "n1", 0, 0.1, 1),
		g("a", 2, "n2", 0.5, 1.1, 2),
		g("b", 7, "n3", 0, 0.2, 3),
		g("a", 5, "n3", 1.5, 2.1, 2.5),
	}
	paused := g("a", 3, "n2", 2.6, 2.7, 5)
	paused.Paused = true
	tests := []struct {
		name           string
		grants         []Grant
		l1, l2, l3     int
		pausedOverlaps int
		linearizable   bool
		want           string // part of the first violation
	}{
		{name: "clean", grants: clean, linearizable: true},
		{name: "duplicate token", grants: append(clean, g("b", 7, "n1", 3, 3.5, 4)), l1: 1, l2: 1, want: "token 7 granted to n3"},
		{name: "decreasing token", grants: append(clean, g("a", 4, "n1", 2.6, 3, 4)), l2: 1, want: "n1 got token 4"},
		{name: "overlap", grants: append(clean, g("b", 8, "n1", 2, 2.5, 4)), l3: 1, want: "b: n1 (token 8) granted at"},
		{name: "paused overlap", grants: []Grant{paused, g("a", 6, "n1", 3, 3.5, 4)}, pausedOverlaps: 1},
		{name: "open grant overlapped", grants: []Grant{{ID: "c", Token: 1, Node: "n1", Called: at(0), Start: at(0.1)}, g("c", 2, "n2", 1, 2, 3)}, l3: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CheckLocks(LockHistory{Grants: tt.grants, Begin: at(0), End: at(10)})
			if v.L1.N != tt.l1 || v.L2.N != tt.l2 || v.L3.N != tt.l3 || v.Paused.N != tt.pausedOverlaps {
				t.Errorf("L1 %d, L2 %d, L3 %d, paused %d; want %d, %d, %d, %d\n%v %v %v", v.L1.N, v.L2.N, v.L3.N, v.Paused.N,
					tt.l1, tt.l2, tt.l3, tt.pausedOverlaps, v.L1.First, v.L2.First, v.L3.First)
			}
			wantLin := tt.l1+tt.l2+tt.l3+tt.pausedOverlaps == 0
			if v.NotLinearizable == wantLin {
				t.Errorf("porcupine: %s; want linearizable %v", v.Porcupine, wantLin)
			}
			if v.OK() != (tt.l1+tt.l2+tt.l3 == 0 && wantLin) {
				t.Errorf("OK() = %v", v.OK())
			}
			if tt.want != "" {
				all := strings.Join(append(append(v.L1.First, v.L2.First...), v.L3.First...), "\n")
				if !strings.Contains(all, tt.want) {
					t.Errorf("violations %q lack %q", all, tt.want)
				}
			}
			if v.Grants != len(tt.grants) {
				t.Errorf("Grants = %d, want %d", v.Grants, len(tt.grants))
			}
		})
	}
}

func TestCheckLocksStats(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var gs []Grant
	var heals []time.Time
	for i := range 100 {
		start := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		gs = append(gs, Grant{ID: "a", Token: uint64(i + 1), Node: "n1", Called: start.Add(-time.Duration(i+1) * time.Millisecond), Start: start, End: start.Add(50 * time.Millisecond)})
	}
	heals = append(heals, t0.Add(1234*time.Millisecond), t0.Add(time.Hour))
	v := CheckLocks(LockHistory{Grants: gs, Heals: heals, Begin: t0, End: t0.Add(10 * time.Second)})
	if v.P50 != 50*time.Millisecond || v.P99 != 99*time.Millisecond || v.PerSecond != 10 {
		t.Errorf("p50 %v, p99 %v, %v/s; want 50ms, 99ms, 10/s", v.P50, v.P99, v.PerSecond)
	}
	if len(v.L4) != 2 || !v.L4[0].Granted || v.L4[0].Took != 66*time.Millisecond || v.L4[1].Granted {
		t.Errorf("L4 = %+v; want 66ms, then none", v.L4)
	}
	if !v.OK() {
		t.Errorf("verdict not OK: %+v", v)
	}
}
