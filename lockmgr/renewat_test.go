package lockmgr

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRenewAt: the next round is due at most one interval after the
// last one started and never at it, on the grid.
func TestRenewAt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for range 10000 {
		interval := time.Duration(1 + r.Int64N(int64(10*time.Second)))
		start := base.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		next := renewAt(start, interval)
		if d := next.Sub(start); d <= 0 || d > interval {
			t.Fatalf("renewAt(%v, %v) = start + %v; want in (0, interval]", start, interval, d)
		}
		if off := next.UnixNano() % int64(interval); off != 0 {
			t.Fatalf("renewAt(%v, %v) = %v: %v off the grid", start, interval, next, time.Duration(off))
		}
		if again := renewAt(next, interval); again.Sub(next) != interval {
			t.Fatalf("a round on the grid is followed %v later; want one interval (%v)", again.Sub(next), interval)
		}
	}
}
