package stats

import (
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name   string
		d      time.Duration
		bucket int
	}{
		{"negative counts as zero", -time.Second, 0},
		{"zero", 0, 0},
		{"on the first bound", 500 * time.Microsecond, 0},
		{"just above the first bound", 501 * time.Microsecond, 1},
		{"30 ms", 30 * time.Millisecond, 6},
		{"on the last bound", 10 * time.Second, len(bounds) - 1},
		{"overflow", time.Minute, len(bounds)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			h.Observe(tt.d)
			s := h.Snapshot()
			if s.Count != 1 || s.Counts[tt.bucket] != 1 {
				t.Errorf("Observe(%v): counts %v, want one in bucket %d", tt.d, s.Counts, tt.bucket)
			}
			if want := max(tt.d, 0); s.Sum != want {
				t.Errorf("Sum = %v, want %v", s.Sum, want)
			}
		})
	}
}

func TestSnapshotCumulativeAndAdd(t *testing.T) {
	var a, b Histogram
	a.Observe(time.Millisecond)      // bucket 1 (<= 1 ms)
	a.Observe(20 * time.Millisecond) // bucket 5 (<= 25 ms)
	b.Observe(20 * time.Millisecond) // bucket 5
	b.Observe(time.Hour)             // overflow
	s := a.Snapshot().Add(b.Snapshot())
	if s.Count != 4 {
		t.Fatalf("Count = %d, want 4", s.Count)
	}
	if want := time.Hour + 41*time.Millisecond; s.Sum != want {
		t.Errorf("Sum = %v, want %v", s.Sum, want)
	}
	c := s.Cumulative()
	for _, tt := range []struct {
		bound float64
		want  uint64
	}{{0.0005, 0}, {0.001, 1}, {0.01, 1}, {0.025, 3}, {10, 3}} {
		if c[tt.bound] != tt.want {
			t.Errorf("cumulative count at %v = %d, want %d", tt.bound, c[tt.bound], tt.want)
		}
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				h.Observe(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 || s.Sum != 8*time.Second {
		t.Errorf("after 8000 observations of 1 ms: Count %d, Sum %v", s.Count, s.Sum)
	}
}

func TestObserveAllocatesNothing(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(100, func() { h.Observe(3 * time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %v times, want 0", n)
	}
}
