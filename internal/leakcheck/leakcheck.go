// Package leakcheck is the TestMain of packages whose tests run
// simulated clusters: it runs the tests (on one P under the race
// detector, see internal/oneproc) and fails the run if goroutines
// outlive them. serf and memberlist do not wait for an in-flight dial on
// Shutdown (serf's reconnect loop, for one, dials a crashed member with a
// 1 s timeout), so the check gives such goroutines a few seconds to end
// before it reports.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/internal/oneproc"
)

// Main runs m's tests and exits with their status, or 1 if goroutines
// outlived them for more than 5 s.
func Main(m *testing.M) {
	oneproc.UnderRace()
	code := m.Run()
	if code == 0 {
		if err := waitNoLeaks(5 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks checks for leaked goroutines until there are none or d has
// passed, and returns the last finding.
func waitNoLeaks(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := goleak.Find() // itself retries for a moment
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
