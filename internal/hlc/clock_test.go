package hlc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// step is one event of a history: the physical clock is set to pt, then Now
// (remote == nil) or Update(*remote) runs.
type step struct {
	pt      int64
	remote  *Timestamp
	want    Timestamp
	wantErr error
}

func now(pt int64, wantWall int64, wantLogical uint32) step {
	return step{pt: pt, want: Timestamp{wantWall, wantLogical}}
}

func update(pt int64, remote Timestamp, wantWall int64, wantLogical uint32) step {
	return step{pt: pt, remote: &remote, want: Timestamp{wantWall, wantLogical}}
}

func reject(pt int64, remote Timestamp) step {
	return step{pt: pt, remote: &remote, wantErr: ErrTooFarAhead}
}

func ts(wall int64, logical uint32) Timestamp { return Timestamp{wall, logical} }

func TestClockHistory(t *testing.T) {
	const maxU = math.MaxUint32
	tests := []struct {
		name       string
		maxForward time.Duration
		steps      []step
	}{
		{"physical advancing", 0, []step{
			now(10, 10, 0),
			now(20, 20, 0),
			now(21, 21, 0),
		}},
		{"physical frozen: logical counts up", 0, []step{
			now(10, 10, 0),
			now(10, 10, 1),
			now(10, 10, 2),
			now(11, 11, 0),
		}},
		{"physical going backwards", 0, []step{
			now(100, 100, 0),
			now(50, 100, 1),
			now(99, 100, 2),
			update(40, ts(30, 7), 100, 3),
			now(101, 101, 0),
		}},
		{"remote ahead", 0, []step{
			now(10, 10, 0),
			update(11, ts(20, 5), 20, 6),
			now(12, 20, 7),
			now(21, 21, 0),
		}},
		{"remote behind", 0, []step{
			now(100, 100, 0),
			update(101, ts(50, 9), 101, 0),
			update(101, ts(50, 9), 101, 1),
			update(90, ts(101, 0), 101, 2),
		}},
		{"remote equal wall with higher logical", 0, []step{
			now(10, 10, 0),
			now(10, 10, 1),
			update(10, ts(10, 7), 10, 8),
			update(10, ts(10, 3), 10, 9),
			update(9, ts(10, 20), 10, 21),
		}},
		{"remote equal wall, physical ahead", 0, []step{
			now(10, 10, 0),
			update(15, ts(10, 7), 15, 0),
		}},
		{"remote and local equal, physical behind", 0, []step{
			now(10, 10, 0),
			now(10, 10, 1),
			update(5, ts(10, 1), 10, 2),
		}},
		{"too far ahead rejected and not merged", 100, []step{
			now(1000, 1000, 0),
			reject(1000, ts(1101, 0)),
			now(1000, 1000, 1),
			update(1000, ts(1100, 0), 1100, 1), // exactly at the limit
			now(1000, 1100, 2),
			reject(1000, ts(math.MaxInt64, maxU)),
			now(1200, 1200, 0),
		}},
		{"check disabled", 0, []step{
			now(1000, 1000, 0),
			update(1000, ts(1<<60, 3), 1<<60, 4),
		}},
		{"no physical time: nothing to judge by", time.Second, []step{
			update(0, ts(1<<60, 3), 1<<60, 4),
		}},
		{"check disabled by negative maxForward", -time.Second, []step{
			update(0, ts(1<<60, 3), 1<<60, 4),
		}},
		{"physical near MaxInt64 with maxForward", time.Hour, []step{
			update(math.MaxInt64-5, ts(math.MaxInt64-1, 0), math.MaxInt64-1, 1),
		}},
		{"logical overflow on send", 0, []step{
			now(10, 10, 0),
			update(10, ts(10, maxU-1), 10, maxU),
			now(10, 11, 0),
			now(10, 11, 1),
			now(11, 11, 2),
			now(12, 12, 0),
		}},
		{"logical overflow on receive", 0, []step{
			now(10, 10, 0),
			update(5, ts(11, maxU), 12, 0),
			now(12, 12, 1),
		}},
		{"never the zero timestamp", 0, []step{
			now(0, 0, 1),
			now(-60, 0, 2),
			update(-70, ts(-40, 2), 0, 3),
			now(1, 1, 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := NewManualClock(0)
			c := NewClock(pc.UnixNano, tt.maxForward)
			for i, s := range tt.steps {
				pc.Set(s.pt)
				before := c.Last()
				var got Timestamp
				var err error
				if s.remote == nil {
					got = c.Now()
				} else {
					got, err = c.Update(*s.remote)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
				}
				if err != nil {
					if !got.IsZero() {
						t.Errorf("step %d: got %s with error, want zero", i, got)
					}
					if last := c.Last(); last != before {
						t.Errorf("step %d: rejected update moved Last from %s to %s", i, before, last)
					}
					continue
				}
				if got != s.want {
					t.Errorf("step %d: got %s, want %s", i, got, s.want)
				}
				if last := c.Last(); last != got {
					t.Errorf("step %d: Last() = %s, want %s", i, last, got)
				}
				if !got.After(before) {
					t.Errorf("step %d: %s is not after the previous %s", i, got, before)
				}
			}
		})
	}
}

func TestNewClockNilPhysical(t *testing.T) {
	c := NewClock(nil, 0)
	lo := time.Now().UnixNano()
	got := c.Now()
	if got.Wall < lo {
		t.Errorf("Now() = %s, want Wall >= %d", got, lo)
	}
}

func TestUpdateErrorMessage(t *testing.T) {
	pc := NewManualClock(1_000_000_000)
	c := NewClock(pc.UnixNano, time.Millisecond)
	_, err := c.Update(ts(1_002_000_000, 0))
	const want = "hlc: remote timestamp too far ahead: remote 1.002000000,0 is 2ms ahead of physical time 1.000000000,0 (limit 1ms)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// TestClockConcurrent runs Now and Update from many goroutines against a
// physical clock that jitters backwards and forwards: each goroutine must see
// strictly increasing timestamps, every Update result must follow its
// remote, and no timestamp may be handed out twice.
func TestClockConcurrent(t *testing.T) {
	const (
		goroutines = 16
		ops        = 2000
		base       = int64(1_700_000_000_000_000_000)
	)
	var tick atomic.Int64
	physical := func() int64 {
		n := tick.Add(1)
		return base + n/4 - (n%5)*3 // mostly advancing, often stepping back
	}
	c := NewClock(physical, time.Second)
	results := make([][]Timestamp, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			out := make([]Timestamp, 0, ops)
			for range ops {
				if rng.IntN(3) > 0 {
					out = append(out, c.Now())
					continue
				}
				remote := ts(base+rng.Int64N(int64(ops*goroutines/4)), rng.Uint32N(4))
				got, err := c.Update(remote)
				if err != nil {
					t.Errorf("Update(%s): %v", remote, err)
					return
				}
				if !got.After(remote) {
					t.Errorf("Update(%s) = %s, not after the remote", remote, got)
				}
				out = append(out, got)
			}
			results[g] = out
		})
	}
	wg.Wait()
	seen := make(map[Timestamp]int, goroutines*ops)
	for g, out := range results {
		for i, got := range out {
			if i > 0 && !got.After(out[i-1]) {
				t.Fatalf("goroutine %d: %s after %s", g, got, out[i-1])
			}
			if other, dup := seen[got]; dup {
				t.Fatalf("%s returned to goroutines %d and %d", got, other, g)
			}
			seen[got] = g
		}
	}
	if len(seen) != goroutines*ops {
		t.Errorf("%d distinct timestamps, want %d", len(seen), goroutines*ops)
	}
}

func BenchmarkNow(b *testing.B) {
	b.Run("system", func(b *testing.B) {
		c := NewClock(nil, 0)
		for b.Loop() {
			c.Now()
		}
	})
	b.Run("frozen", func(b *testing.B) {
		c := NewClock(NewManualClock(1).UnixNano, 0)
		for b.Loop() {
			c.Now()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		c := NewClock(nil, 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Now()
			}
		})
	})
}

func ExampleClock() {
	pc := NewManualClock(1_700_000_000_000_000_000)
	c := NewClock(pc.UnixNano, 500*time.Millisecond)
	fmt.Println(c.Now())
	fmt.Println(c.Now()) // physical clock frozen: logical counts up
	got, _ := c.Update(Timestamp{Wall: 1_700_000_000_200_000_000, Logical: 3})
	fmt.Println(got) // a remote timestamp ahead: adopt it and count on
	_, err := c.Update(Timestamp{Wall: 1_700_000_001_000_000_000})
	fmt.Println(err != nil)
	// Output:
	// 1700000000.000000000,0
	// 1700000000.000000000,1
	// 1700000000.200000000,4
	// true
}
