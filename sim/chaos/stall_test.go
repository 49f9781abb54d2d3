package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestStallStats(t *testing.T) {
	ms := time.Millisecond
	var lates []time.Duration
	for i := range 100 {
		lates = append(lates, time.Duration(i)*ms/10) // 0 to 9.9 ms
	}
	calm := newStallStats(lates)
	if calm.Samples != 100 || calm.P50 != 5*ms || calm.P99 != 9900*time.Microsecond || calm.Max != 9900*time.Microsecond || calm.Over != 0 {
		t.Errorf("calm: %+v", calm)
	}
	if w := calm.warning(); w != "" {
		t.Errorf("calm machine warned: %q", w)
	}
	stalled := newStallStats(append(lates, 400*ms, 300*ms))
	if stalled.Over != 2 || stalled.Max != 400*ms {
		t.Errorf("stalled: %+v", stalled)
	}
	if w := stalled.warning(); !strings.HasPrefix(w, "WARNING: the machine stalled the simulation by up to 400ms, more than the leases' 250ms margin (2 times).") {
		t.Errorf("warning = %q", w)
	}
	if newStallStats(nil).warning() != "" {
		t.Error("no samples warned")
	}
}

func TestStallMeterMeasures(t *testing.T) {
	m := startStallMeter()
	deadline := time.Now().Add(10 * time.Second)
	for len(m.snapshot()) < 3 && time.Now().Before(deadline) {
		time.Sleep(stallTick)
	}
	s := m.stop()
	if s.Samples < 3 {
		t.Errorf("%d samples after waiting for 3", s.Samples)
	}
	if again := m.stop(); again != s {
		t.Errorf("second stop = %+v, first %+v", again, s)
	}
}
