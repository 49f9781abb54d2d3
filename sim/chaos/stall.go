package chaos

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// The simulation runs in real time on one machine, so a machine too busy
// to run it on time is a fault of its own: a goroutine that wakes late
// renews a lease late or reports a lost lease late, as a paused process
// would, and on every node at once. The stall meter measures that: it
// sleeps stallTick at a time and records how much each sleep overran.
const (
	stallTick = 10 * time.Millisecond
	// stallWarn is the lateness past which the report warns that timing
	// verdicts reflect the machine: the leases' safety margin (a lock's
	// acceptors hold a grant TTL/4 longer than its holder uses it).
	stallWarn = lockTTL / 4
)

// stallMeter measures the lateness of timers until stop.
type stallMeter struct {
	stopc chan struct{}
	once  sync.Once // closes stopc
	done  chan struct{}

	mu    sync.Mutex // protects lates
	lates []time.Duration
}

func startStallMeter() *stallMeter {
	m := &stallMeter{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTimer(stallTick)
		defer t.Stop()
		for {
			due := time.Now().Add(stallTick)
			select {
			case <-m.stopc:
				return
			case now := <-t.C:
				m.mu.Lock()
				m.lates = append(m.lates, max(0, now.Sub(due)))
				m.mu.Unlock()
				t.Reset(stallTick)
			}
		}
	}()
	return m
}

// stop ends the measuring and returns what it found. Later calls return
// the same.
func (m *stallMeter) stop() stallStats {
	m.once.Do(func() { close(m.stopc) })
	<-m.done
	return newStallStats(m.snapshot())
}

// snapshot returns the lateness measured so far.
func (m *stallMeter) snapshot() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lates)
}

// stallStats sums up the lateness of the meter's timers.
type stallStats struct {
	Samples  int
	P50, P99 time.Duration
	Max      time.Duration
	Over     int // samples later than stallWarn
}

func newStallStats(lates []time.Duration) stallStats {
	s := stallStats{Samples: len(lates)}
	if len(lates) == 0 {
		return s
	}
	sorted := slices.Clone(lates)
	slices.Sort(sorted)
	s.P50, s.P99, s.Max = sorted[len(sorted)/2], sorted[len(sorted)*99/100], sorted[len(sorted)-1]
	for _, l := range lates {
		if l > stallWarn {
			s.Over++
		}
	}
	return s
}

// line is the report's machine line.
func (m *MachineReport) line() string {
	return fmt.Sprintf("timers ran late by p50 %s, p99 %s, max %s (%d of %d over %s)",
		fmtFine(m.TimerLateP50.Std()), fmtFine(m.TimerLateP99.Std()), fmtFine(m.TimerLateMax.Std()), m.TimerLateOver, m.TimerSamples, fmtDur(stallWarn))
}

// warning is what the report says when the machine stalled the
// simulation past stallWarn, or "".
func (s stallStats) warning() string {
	if s.Max <= stallWarn {
		return ""
	}
	return fmt.Sprintf("WARNING: the machine stalled the simulation by up to %s, more than the leases' %s margin (%d times).\n"+
		"Timing properties (M, E3, E4, C1, C3, L3, L4, T3) may have broken because the machine was overloaded,\n"+
		"as they would with every process paused; rerun with fewer -nodes, or on a machine with more cores.",
		fmtDur(s.Max), fmtDur(stallWarn), s.Over)
}
