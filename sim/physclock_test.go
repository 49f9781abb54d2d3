package sim

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestPhysClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newPhysClock()
		start, real0 := c.now(), time.Now()
		if d := start.Sub(real0.Round(0)); d != 0 {
			t.Fatalf("new clock is off by %v, want 0", d)
		}
		c.setSkew(3 * time.Second)
		if d := c.now().Sub(time.Now().Round(0)); d != 3*time.Second {
			t.Fatalf("after SetSkew(3s) the clock is off by %v", d)
		}
		c.setDrift(500) // 500 ppm fast
		before := c.now()
		time.Sleep(10 * time.Second)
		if got, want := c.now().Sub(before), 10*time.Second+5*time.Millisecond; got != want {
			t.Fatalf("10s at +500ppm advanced the clock %v, want %v", got, want)
		}
		c.setDrift(-500) // no step when the rate changes
		if d := c.now().Sub(before); d != 10*time.Second+5*time.Millisecond {
			t.Fatalf("changing the drift stepped the clock: %v since before", d)
		}
		time.Sleep(10 * time.Second)
		if got, want := c.now().Sub(before), 20*time.Second; got != want {
			t.Fatalf("then 10s at -500ppm: %v since before, want %v", got, want)
		}
	})
}
