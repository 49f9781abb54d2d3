package lockmgr

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/internal/stats"
)

// Stats is a snapshot of a Manager's counters, for monitoring (package
// metrics). The counters count since New.
type Stats struct {
	Acquiring int    // Acquire and TryAcquire calls in progress: this Manager's waiters
	Held      int    // locks this Manager holds now
	Grants    uint64 // locks granted to this Manager (Acquire and TryAcquire calls that returned a Lock)
	// LeaseLosses counts the locks whose lease ended without a Release
	// or Close: not renewed by a majority in time, refused by the voters,
	// or found over by Valid.
	LeaseLosses uint64
	// Failed Acquire and TryAcquire calls, by cause: ErrNoQuorum;
	// ErrLocked (TryAcquire); the Wait option or ctx's deadline
	// (ErrTimeout, context.DeadlineExceeded); ctx canceled; anything else
	// (ErrClosed, a bad id or option).
	NoQuorum, Locked, Timeouts, Canceled, OtherErrors uint64
	// AcquireLatency holds how long each call that returned a Lock took,
	// the wait in the queue included.
	AcquireLatency stats.Snapshot
}

// counters are a Manager's counters; every update is an atomic addition.
type counters struct {
	acquiring, held                                   atomic.Int64
	grants, leaseLosses                               atomic.Uint64
	noQuorum, locked, timeouts, canceled, otherErrors atomic.Uint64
	latency                                           stats.Histogram
}

// Stats returns the Manager's counters now. It takes no lock.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		Acquiring:      int(c.acquiring.Load()),
		Held:           int(c.held.Load()),
		Grants:         c.grants.Load(),
		LeaseLosses:    c.leaseLosses.Load(),
		NoQuorum:       c.noQuorum.Load(),
		Locked:         c.locked.Load(),
		Timeouts:       c.timeouts.Load(),
		Canceled:       c.canceled.Load(),
		OtherErrors:    c.otherErrors.Load(),
		AcquireLatency: c.latency.Snapshot(),
	}
}

// acquired counts the end of an Acquire or TryAcquire call that began at
// start and returned err.
func (c *counters) acquired(start time.Time, err error) {
	switch {
	case err == nil:
		c.latency.Since(start)
	case errors.Is(err, ErrNoQuorum):
		c.noQuorum.Add(1)
	case errors.Is(err, ErrLocked):
		c.locked.Add(1)
	case errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		c.timeouts.Add(1)
	case errors.Is(err, context.Canceled):
		c.canceled.Add(1)
	default:
		c.otherErrors.Add(1)
	}
}
