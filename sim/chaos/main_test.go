package chaos

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/leakcheck"
)

// TestMain fails the run if goroutines outlive the tests (leakcheck).
func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestSimStopsEarlyAndStillReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster for a few seconds of real time")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel, as Ctrl-C does, once the first phase has been reported.
	out := &watchWriter{match: "converged in", onMatch: cancel}
	rep, err := Simulate(ctx, out, Options{Scenario: "crash", Nodes: 3, Duration: time.Minute, Seed: 7})
	if err != nil {
		t.Fatalf("Simulate: %v", err)
	}
	if !rep.Interrupted || len(rep.Schedule) != 1 || !rep.OK {
		t.Errorf("interrupted %v, %d phases, OK %v; want true, 1, true", rep.Interrupted, len(rep.Schedule), rep.OK)
	}
	for _, w := range []string{"interrupted: 1 of the schedule's phases ran", "final: heal, loss off, restart ", "final convergence OK"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

// watchWriter collects what is written and calls onMatch once, when a
// write contains match. Safe for concurrent use.
type watchWriter struct {
	match   string
	onMatch func()

	mu      sync.Mutex // protects buf and matched
	buf     bytes.Buffer
	matched bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.matched && bytes.Contains(p, []byte(w.match)) {
		w.matched = true
		w.onMatch()
	}
	return w.buf.Write(p)
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
