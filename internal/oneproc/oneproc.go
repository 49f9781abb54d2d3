// Package oneproc works around a crash of the race detector in tests
// that use testing/synctest.
//
// Go 1.26's runtime runs the timer functions of a synctest bubble with
// one race context shared by the whole bubble (timer.unlockAndRun in
// runtime/time.go). Two threads running timers of one
// bubble at the same instant (two time.AfterFunc or context deadlines
// due together, common in a simulated cluster) use that context at
// once, and the race runtime crashes: "SIGSEGV ... PC in
// __sanitizer::StackDepotBase::Put", goroutine 0 idle in a synctest
// bubble, time.goFunc in the registers. It is the runtime's bug, not a
// race in the code under test (golang/go#78156 is an open report of the
// race detector failing inside synctest bubbles), and nothing a test
// does can avoid it but running timers on one thread.
//
// With the race detector on, UnderRace runs Go code on one P
// (GOMAXPROCS=1): timers only run on a thread that holds a P, so no two
// run at once. The detector still finds races, which it judges by
// happens-before, not by parallel execution. Without the race detector
// it does nothing.
package oneproc

import "runtime"

// UnderRace sets GOMAXPROCS to 1 when the race detector is on. Call it
// first in TestMain of every package whose tests run simulated clusters
// in synctest bubbles. A package whose tests mostly run real nodes on
// real sockets in real time should not: one P under the race detector
// slows them until gossip declares healthy members failed.
func UnderRace() {
	if raceEnabled {
		runtime.GOMAXPROCS(1)
	}
}
