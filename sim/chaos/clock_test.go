package chaos

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/sim/check"
)

func TestClockSyncLines(t *testing.T) {
	ref := check.Reading{Node: "n3", Stats: check.ClockStats{IsReference: true, Term: 4}}
	crash := phaseResult{phase: phase{Fault: faultCrash, Node: "n2"}, At: 11700 * time.Millisecond, Reference: true, RefCrash: true, RefTerm: 2}
	resynced := crash
	resynced.Resynced, resynced.Resync, resynced.NewRef, resynced.NewTerm = true, 1520*time.Millisecond, "n3", 4
	rep := &record{FinalConverged: true, Clock: clockRecord{
		References: []check.Reading{{Node: "n2", Stats: check.ClockStats{Term: 2}}, ref},
		First:      clockSync{Ref: ref, OK: true, Synced: 5, Alive: 5, Took: 2130 * time.Millisecond},
		Crashes:    []phaseResult{resynced, crash},
		Final:      clockSync{Ref: ref, Synced: 3, Alive: 5, Took: 10 * time.Second},
	}}
	var out bytes.Buffer
	summarize(rep).print(&out)
	for _, w := range []string{
		`\nclock +reference group "gossipsync.clock": 2 references: n2 term 2, n3 term 4\n`,
		`\nclock first sync +all 5 on reference n3 term 4, 2.13s after the start\n`,
		`\nreference crash +n2 term 2 at 11.7s: all on n3 term 4 in 1.52s\n`,
		`\nreference crash +n2 term 2 at 11.7s: NOT all re-synced before the phase ended\n`,
		`\nclock final sync +NOT all synced within 10s of the final heal: 3 of 5 on reference n3 term 4\n`,
	} {
		if !regexp.MustCompile(w).MatchString(out.String()) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
	if got, want := newClockSync(clockSync{Alive: 4}).line("the start"), "NOT all synced within 0s of the start: 0 of 4 on no reference"; got != want {
		t.Errorf("line(nothing) = %q, want %q", got, want)
	}
	if got, want := phaseLine(resynced, resynced.what(), 0), "[  11.7s] crash n2 (reference)  NOT converged after 0s, clocks on n3 in 1.52s"; got != want {
		t.Errorf("phaseLine = %q, want %q", got, want)
	}
}

func TestDrawPhysClocks(t *testing.T) {
	names := nodeNames(50)
	for seed := range int64(20) {
		a := drawPhysClocks(seed, names, 5*time.Second, 200)
		if b := drawPhysClocks(seed, names, 5*time.Second, 200); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two draws differ:\n%v\n%v", seed, a, b)
		}
		var fast, slow, ahead, behind int
		for _, p := range a {
			if p.Skew.Abs() > 5*time.Second || p.Skew%(10*time.Millisecond) != 0 || p.PPM < -200 || p.PPM > 200 || p.PPM != float64(int(p.PPM)) {
				t.Fatalf("seed %d: %+v outside ±5s in 10ms steps, ±200 whole ppm", seed, p)
			}
			ahead, behind = ahead+boolInt(p.Skew > time.Second), behind+boolInt(p.Skew < -time.Second)
			fast, slow = fast+boolInt(p.PPM > 50), slow+boolInt(p.PPM < -50)
		}
		if ahead == 0 || behind == 0 || fast == 0 || slow == 0 {
			t.Errorf("seed %d: %d ahead, %d behind, %d fast, %d slow; want each of them", seed, ahead, behind, fast, slow)
		}
	}
	for _, p := range drawPhysClocks(1, names, 0, 0) {
		if p.Skew != 0 || p.PPM != 0 {
			t.Errorf("-skew 0 -drift 0 gave %+v", p)
		}
	}
	lines := []struct {
		skew time.Duration
		ppm  float64
		want string
	}{
		{5 * time.Second, 200, "physical clocks (skew ±5s, drift ±200ppm): n1 +3.21s -57ppm, n2 -870ms +0ppm"},
		{0, 200, "physical clocks (no skew, drift ±200ppm): n1 -57ppm, n2 +0ppm"},
		{5 * time.Second, 0, "physical clocks (skew ±5s, no drift): n1 +3.21s, n2 -870ms"},
		{0, 0, "physical clocks: no skew, no drift"},
	}
	phys := []physClock{{"n1", 3210 * time.Millisecond, -57}, {"n2", -870 * time.Millisecond, 0}}
	for _, l := range lines {
		if got := physLine(l.skew, l.ppm, phys); got != l.want {
			t.Errorf("physLine(%v, %v) = %q, want %q", l.skew, l.ppm, got, l.want)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
