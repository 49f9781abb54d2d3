package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestPhysClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newPhysClock()
		start, real0 := c.wall(), time.Now()
		if d := start.Sub(real0.Round(0)); d != 0 {
			t.Fatalf("new clock is off by %v, want 0", d)
		}
		c.setSkew(3 * time.Second)
		if d := c.wall().Sub(time.Now().Round(0)); d != 3*time.Second {
			t.Fatalf("after SetSkew(3s) the clock is off by %v", d)
		}
		c.setDrift(500) // 500 ppm fast
		before := c.wall()
		time.Sleep(10 * time.Second)
		if got, want := c.wall().Sub(before), 10*time.Second+5*time.Millisecond; got != want {
			t.Fatalf("10s at +500ppm advanced the clock %v, want %v", got, want)
		}
		c.setDrift(-500) // no step when the rate changes
		if d := c.wall().Sub(before); d != 10*time.Second+5*time.Millisecond {
			t.Fatalf("changing the drift stepped the clock: %v since before", d)
		}
		time.Sleep(10 * time.Second)
		if got, want := c.wall().Sub(before), 20*time.Second; got != want {
			t.Fatalf("then 10s at -500ppm: %v since before, want %v", got, want)
		}
	})
}

// Now carries the skew and the drift, with a monotonic reading whose
// differences follow the rate; a jump steps the wall reading alone; the
// timers wait clock time.
func TestPhysClockAsClusterClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newPhysClock()
		c.setSkew(2 * time.Second)
		c.setDrift(100_000) // 10 % fast
		if d := c.Now().Sub(time.Now()); d != 2*time.Second {
			t.Fatalf("Now is off by %v, want 2s", d)
		}
		before, wallBefore := c.Now(), c.wall()
		c.stepWall(5 * time.Second)
		time.Sleep(10 * time.Second)
		if got := c.Now().Sub(before); got != 11*time.Second {
			t.Errorf("10s at +10%%: Now advanced %v, want 11s (the jump is not in it)", got)
		}
		if got := c.wall().Sub(wallBefore); got != 16*time.Second {
			t.Errorf("10s at +10%% and a 5s jump: the wall reading advanced %v, want 16s", got)
		}
		start := time.Now()
		<-c.NewTimer(11 * time.Second).C
		if got := time.Since(start); got != 10*time.Second {
			t.Errorf("a timer of 11s on a clock 10%% fast fired after %v real, want 10s", got)
		}
		fired := make(chan time.Duration, 1)
		tm := c.AfterFunc(time.Hour, func() { fired <- time.Since(start) })
		start = time.Now()
		tm.Reset(22 * time.Second)
		if got := <-fired; got != 20*time.Second {
			t.Errorf("Reset(22s) fired after %v real, want 20s", got)
		}
		tk := c.NewTicker(1100 * time.Millisecond)
		defer tk.Stop()
		start = time.Now()
		<-tk.C
		<-tk.C
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("two ticks of 1.1s took %v real, want 2s", got)
		}
	})
}
