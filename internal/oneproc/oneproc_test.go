package oneproc

import (
	"runtime"
	"testing"
)

func TestUnderRace(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	UnderRace()
	want := before
	if raceEnabled {
		want = 1
	}
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Errorf("GOMAXPROCS = %d after UnderRace (race detector on: %v), want %d", got, raceEnabled, want)
	}
}
