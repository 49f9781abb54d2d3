package sim

import (
	"sync"
	"time"
)

// physClock is one simulated machine's physical clock: real (or virtual)
// time with an offset (skew) and a rate error (drift). Safe for concurrent
// use.
type physClock struct {
	mu         sync.Mutex // protects the fields below
	anchorReal time.Time  // a moment of real time...
	anchorVal  time.Time  // ...and this clock's reading then
	ppm        float64    // rate error in parts per million
}

func newPhysClock() *physClock {
	now := time.Now().Round(0)
	return &physClock{anchorReal: now, anchorVal: now}
}

// now returns the reading, without a monotonic part so that Sub and
// comparisons see the skew and drift.
func (c *physClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readLocked(time.Now().Round(0))
}

func (c *physClock) readLocked(real time.Time) time.Time {
	elapsed := real.Sub(c.anchorReal)
	return c.anchorVal.Add(elapsed + time.Duration(float64(elapsed)*c.ppm/1e6))
}

// setSkew steps the clock so that it reads real time plus d now.
func (c *physClock) setSkew(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now().Round(0)
	c.anchorReal, c.anchorVal = real, real.Add(d)
}

// setDrift changes the rate from now on, without a step.
func (c *physClock) setDrift(ppm float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := time.Now().Round(0)
	c.anchorVal, c.anchorReal = c.readLocked(real), real
	c.ppm = ppm
}
