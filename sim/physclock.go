package sim

import (
	"math"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// physClock is one simulated machine's physical clock: real (or virtual)
// time with an offset (skew), a rate error (drift) and steps of its wall
// reading (jumps). It is the node's cluster.Clock: Now carries the skew
// and the drift in both its wall and monotonic readings, so durations
// measured with it follow the rate, and its timers wait clock time. The
// jumps reach only the wall reading that the node's cluster clock takes
// (wall, for clock.Source), as a step of a real machine's clock reaches
// its wall time and not the monotonic readings leases are measured with.
// Safe for concurrent use.
type physClock struct {
	mu          sync.Mutex    // protects the fields below
	skew        time.Duration // offset of Now from real time, besides the drift
	jump        time.Duration // steps of the wall reading alone
	anchorReal  time.Time     // real time when the drift last changed...
	anchorDrift time.Duration // ...and the drift accumulated by then
	ppm         float64       // rate error in parts per million
}

var _ cluster.Clock = (*physClock)(nil)

func newPhysClock() *physClock { return &physClock{anchorReal: time.Now()} }

// Now returns real time plus the skew and the drift accumulated so far,
// with its monotonic reading, as time.Now does.
func (c *physClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now()
	return real.Add(c.offsetLocked(real))
}

func (c *physClock) offsetLocked(real time.Time) time.Duration {
	elapsed := real.Sub(c.anchorReal)
	return c.skew + c.anchorDrift + time.Duration(float64(elapsed)*c.ppm/1e6)
}

// wall returns the wall reading, with the jumps and without a monotonic
// part, so that Sub and comparisons see the skew, the drift and the
// jumps: the physical clock as package clock reads it.
func (c *physClock) wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now()
	return real.Round(0).Add(c.offsetLocked(real) + c.jump)
}

// toReal converts a duration on the clock into real time at the current
// rate.
func (c *physClock) toReal(d time.Duration) time.Duration {
	c.mu.Lock()
	rate := 1 + c.ppm/1e6
	c.mu.Unlock()
	return time.Duration(math.Round(float64(d) / rate))
}

// NewTimer is time.NewTimer with d on the clock.
func (c *physClock) NewTimer(d time.Duration) *cluster.Timer {
	return cluster.NewClockTimer(time.NewTimer(c.toReal(d)), c.toReal)
}

// AfterFunc is time.AfterFunc with d on the clock.
func (c *physClock) AfterFunc(d time.Duration, f func()) *cluster.Timer {
	return cluster.NewClockTimer(time.AfterFunc(c.toReal(d), f), c.toReal)
}

// NewTicker is time.NewTicker with d on the clock.
func (c *physClock) NewTicker(d time.Duration) *cluster.Ticker {
	return cluster.NewClockTicker(time.NewTicker(c.toReal(d)), c.toReal)
}

// setSkew sets the clock's offset from real time, besides its drift: for
// the machine's setting before its node starts. It steps Now, and with
// it the durations measured across the change; jump steps a running
// machine's wall time.
func (c *physClock) setSkew(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now()
	c.anchorDrift += time.Duration(float64(real.Sub(c.anchorReal)) * c.ppm / 1e6)
	c.anchorReal = real
	c.skew = d - c.anchorDrift
}

// stepWall steps the wall reading by d.
func (c *physClock) stepWall(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jump += d
}

// setDrift changes the rate from now on, without a step. Timers already
// set keep the rate they were set at.
func (c *physClock) setDrift(ppm float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now()
	c.anchorDrift += time.Duration(float64(real.Sub(c.anchorReal)) * c.ppm / 1e6)
	c.anchorReal = real
	c.ppm = ppm
}
