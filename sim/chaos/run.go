package chaos

import (
	"bytes"
	"sync"
	"testing"
)

// Run runs Simulate for a test with the user's workloads ws, and returns
// its report: t fails at once if the run cannot start, and shows the
// run's output if it fails. Run it inside a testing/synctest bubble
// (synctest.Test): time there is virtual, so a minute of faults takes
// seconds and the timings do not depend on the machine. The bubble ends
// only once memberlist's and serf's goroutines have (a dial in flight,
// a reconnect timer); sleep 10 s of virtual time after Run to let them.
//
//	synctest.Test(t, func(t *testing.T) {
//		rep := chaos.Run(t, chaos.Options{Scenario: "all", Seed: 7, Duration: time.Minute}, myWorkload)
//		if rep.Broken() {
//			t.Fatal(rep.Problems)
//		}
//		time.Sleep(10 * time.Second)
//	})
func Run(t testing.TB, o Options, ws ...Workload) *Report {
	t.Helper()
	out := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos run:\n%s", out.String())
		}
	})
	rep, err := Simulate(t.Context(), out, o, ws...)
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	return rep
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
