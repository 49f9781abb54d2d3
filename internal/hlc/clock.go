package hlc

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is a hybrid logical clock. It is safe for concurrent use. It starts
// at the zero Timestamp and never returns it (the first timestamp is at
// least (0, 1)), so callers may use the zero Timestamp to mean "none".
type Clock struct {
	physical   func() int64 // ns since the Unix epoch
	maxForward int64        // ns; <= 0 disables the check

	mu struct {
		sync.Mutex
		last Timestamp // the largest timestamp returned or accepted
	}
}

// NewClock returns a Clock that reads physical time from physical, in
// nanoseconds since the Unix epoch (nil means UnixNano, the system clock).
// Update rejects remote timestamps more than maxForward ahead of physical
// time; maxForward <= 0 disables that check, and so does a physical time
// of 0 or less (no physical time known: nothing to judge the remote by).
func NewClock(physical func() int64, maxForward time.Duration) *Clock {
	if physical == nil {
		physical = UnixNano
	}
	return &Clock{physical: physical, maxForward: int64(maxForward)}
}

// UnixNano reads the system clock in nanoseconds since the Unix epoch. It is
// the physical clock NewClock uses when given nil.
func UnixNano() int64 { return time.Now().UnixNano() }

// Now returns a timestamp for a local or send event, strictly greater than
// every timestamp c returned or accepted before.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.advanceLocked(c.mu.last, c.physical())
}

// Update merges the timestamp of a received message into c and returns the
// timestamp of the receive event: strictly greater than remote and than every
// timestamp c returned or accepted before. If remote.Wall is more than
// maxForward ahead of the physical clock, Update leaves c unchanged and
// returns the zero Timestamp and an error wrapping ErrTooFarAhead.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.physical()
	if c.maxForward > 0 && pt > 0 && remote.Wall > satAdd(pt, c.maxForward) {
		ahead := remote.Wall - pt
		if ahead < 0 { // the difference overflowed
			ahead = math.MaxInt64
		}
		return Timestamp{}, fmt.Errorf("%w: remote %s is %v ahead of physical time %s (limit %v)",
			ErrTooFarAhead, remote, time.Duration(ahead), Timestamp{Wall: pt}, time.Duration(c.maxForward))
	}
	base := c.mu.last
	if remote.After(base) {
		base = remote
	}
	return c.advanceLocked(base, pt), nil
}

// Last returns the largest timestamp c returned or accepted, without
// advancing it.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.last
}

// advanceLocked records and returns the timestamp of an event that follows
// base (which is >= c.mu.last) at physical time pt.
func (c *Clock) advanceLocked(base Timestamp, pt int64) Timestamp {
	if pt > base.Wall {
		c.mu.last = Timestamp{Wall: pt}
	} else {
		c.mu.last = base.next()
	}
	return c.mu.last
}

// satAdd returns a+b for b > 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// ManualClock is a physical clock that moves only when told to, for tests
// and simulations; pass its UnixNano method to NewClock. It is safe for
// concurrent use.
type ManualClock struct {
	ns atomic.Int64
}

// NewManualClock returns a ManualClock reading ns nanoseconds since the Unix
// epoch.
func NewManualClock(ns int64) *ManualClock {
	m := &ManualClock{}
	m.ns.Store(ns)
	return m
}

// UnixNano returns the current reading.
func (m *ManualClock) UnixNano() int64 { return m.ns.Load() }

// Increment moves the reading by d nanoseconds (which may be negative).
func (m *ManualClock) Increment(d int64) { m.ns.Add(d) }

// Set sets the reading to ns.
func (m *ManualClock) Set(ns int64) { m.ns.Store(ns) }
