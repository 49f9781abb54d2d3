package cluster

import "time"

// Clock is the machine's physical clock as a node's services use it: to
// read the time, to measure how long something took, and to wait. Config.Clock
// sets it; nil is SystemClock, the time package itself.
//
// Leases (package lockmgr, election and the voters that grant them) and
// schedules (package taskpool) read time only through it, so a
// simulation can give each node a clock of its own that is off (its wall
// reading) and runs fast or slow (its rate, which Sub between readings
// and every timer follow), as real machines' clocks are and do. The
// leases assume that the rates of any two nodes' clocks are within about
// 10 % of each other (see lockmgr's and election's docs); offsets do not
// matter to them. RPC deadlines, failure detection and gossip run on the
// time package: they bound how soon things happen, not what is safe.
//
// Now must return readings whose differences (Sub, Since, Until) grow
// without steps, as time.Now's monotonic readings do; a clock that steps
// its wall reading must step it in a reading of its own (clock.Source),
// not in Now. A Timer from the clock waits d on the clock: d divided by
// its rate in real time.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends on its C after d.
	NewTimer(d time.Duration) *Timer
	// AfterFunc returns a timer that calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) *Timer
	// NewTicker returns a ticker that sends on its C every d.
	NewTicker(d time.Duration) *Ticker
}

// Timer is a Clock's timer: time.Timer's methods, with durations on the
// clock.
type Timer struct {
	C     <-chan time.Time // nil for AfterFunc's
	t     *time.Timer
	scale func(time.Duration) time.Duration // clock time to real time
}

// NewClockTimer makes a Timer of t, which a Clock made with durations
// scaled by scale (nil: none) from clock time to real time; Reset
// scales its duration the same way. It is for implementations of Clock.
func NewClockTimer(t *time.Timer, scale func(time.Duration) time.Duration) *Timer {
	if scale == nil {
		scale = identity
	}
	return &Timer{C: t.C, t: t, scale: scale}
}

// Stop is time.Timer.Stop.
func (t *Timer) Stop() bool { return t.t.Stop() }

// Reset is time.Timer.Reset with d on the timer's clock.
func (t *Timer) Reset(d time.Duration) bool { return t.t.Reset(t.scale(d)) }

// Ticker is a Clock's ticker: time.Ticker's methods, with durations on
// the clock.
type Ticker struct {
	C     <-chan time.Time
	t     *time.Ticker
	scale func(time.Duration) time.Duration
}

// NewClockTicker makes a Ticker of t, as NewClockTimer makes a Timer.
func NewClockTicker(t *time.Ticker, scale func(time.Duration) time.Duration) *Ticker {
	if scale == nil {
		scale = identity
	}
	return &Ticker{C: t.C, t: t, scale: scale}
}

// Stop is time.Ticker.Stop.
func (t *Ticker) Stop() { t.t.Stop() }

// Reset is time.Ticker.Reset with d on the ticker's clock.
func (t *Ticker) Reset(d time.Duration) { t.t.Reset(t.scale(d)) }

func identity(d time.Duration) time.Duration { return d }

// SystemClock is the machine's clock as the time package reads it.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer is time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) *Timer { return NewClockTimer(time.NewTimer(d), nil) }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) *Timer {
	return NewClockTimer(time.AfterFunc(d, f), nil)
}

// NewTicker is time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) *Ticker { return NewClockTicker(time.NewTicker(d), nil) }

// Clock returns the node's physical clock (Config.Clock).
func (n *Node) Clock() Clock { return n.cfg.Clock }
