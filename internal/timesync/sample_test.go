package timesync

import (
	"errors"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is the origin of the local and reference times in these tests.
var epoch = time.Unix(1_700_000_000, 0)

// at returns the time d after epoch.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// exchange returns the sample of an exchange with a reference whose clock
// reads theta ahead of the local one: the request leaves at local time t1
// and takes d1, the reference holds it for proc, the reply takes d2.
func exchange(t1, theta, d1, proc, d2 time.Duration) Sample {
	return Sample{
		T1: at(t1),
		T2: at(t1 + d1 + theta),
		T3: at(t1 + d1 + proc + theta),
		T4: at(t1 + d1 + proc + d2),
	}
}

const ms = time.Millisecond

func TestOffsetRTTBoundAt(t *testing.T) {
	tests := []struct {
		name       string
		s          Sample
		at         time.Time
		maxDrift   float64
		wantOffset time.Duration
		wantRTT    time.Duration
		wantU      time.Duration
		truth      time.Duration // true offset at `at`, must be in the bound
	}{
		{
			name: "symmetric delay",
			s:    exchange(0, 100*ms, 5*ms, 0, 5*ms), at: at(10 * ms),
			wantOffset: 100 * ms, wantRTT: 10 * ms, wantU: 5 * ms, truth: 100 * ms,
		},
		{
			name: "asymmetric delay: truth at the upper edge",
			s:    exchange(0, 100*ms, 0, 0, 10*ms), at: at(10 * ms),
			wantOffset: 95 * ms, wantRTT: 10 * ms, wantU: 5 * ms, truth: 100 * ms,
		},
		{
			name: "asymmetric delay: truth at the lower edge",
			s:    exchange(0, 100*ms, 10*ms, 0, 0), at: at(10 * ms),
			wantOffset: 105 * ms, wantRTT: 10 * ms, wantU: 5 * ms, truth: 100 * ms,
		},
		{
			name: "zero RTT",
			s:    exchange(0, -30*ms, 0, 0, 0), at: at(0),
			wantOffset: -30 * ms, wantRTT: 0, wantU: 0, truth: -30 * ms,
		},
		{
			name: "server processing time",
			s:    exchange(0, -2*time.Second, 3*ms, 7*ms, 1*ms), at: at(11 * ms),
			// ((3ms-2s) + (10ms-2s-11ms))/2 = (-1997ms - 2001ms)/2
			wantOffset: -1999 * ms, wantRTT: 4 * ms, wantU: 2 * ms, truth: -2 * time.Second,
		},
		{
			name: "odd RTT: offset truncated, uncertainty rounded up",
			s:    Sample{T1: at(0), T2: at(3), T3: at(3), T4: at(1)}, at: at(1),
			wantOffset: 2, wantRTT: 1, wantU: 1, truth: 3,
		},
		{
			name: "odd RTT, negative offset",
			s:    Sample{T1: at(0), T2: at(-3), T3: at(-3), T4: at(1)}, at: at(1),
			wantOffset: -3, wantRTT: 1, wantU: 1, truth: -4,
		},
		{
			name: "drift: age from T1, after the exchange",
			s:    exchange(0, 100*ms, 5*ms, 0, 5*ms), at: at(10*ms + time.Second), maxDrift: 1e-3,
			// 5ms + 1e-3 * (1s + 10ms)
			wantOffset: 100 * ms, wantRTT: 10 * ms, wantU: 6010 * time.Microsecond, truth: 100 * ms,
		},
		{
			name: "drift: at before the exchange",
			s:    exchange(0, 100*ms, 5*ms, 0, 5*ms), at: at(-time.Second), maxDrift: 1e-3,
			// 5ms + 1e-3 * (1.01s + 10ms)
			wantOffset: 100 * ms, wantRTT: 10 * ms, wantU: 6020 * time.Microsecond, truth: 100 * ms,
		},
		{
			name: "drift: at T4 counts the exchange",
			s:    exchange(0, 100*ms, 5*ms, 0, 5*ms), at: at(10 * ms), maxDrift: 2e-3,
			wantOffset: 100 * ms, wantRTT: 10 * ms, wantU: 5*ms + 20*time.Microsecond, truth: 100 * ms,
		},
		{
			name: "drift rounded up",
			s:    exchange(0, 100*ms, 5*ms, 0, 5*ms), at: at(10*ms + 1), maxDrift: 1e-3,
			// 5ms + ceil(1e-3 * 10000001ns)
			wantOffset: 100 * ms, wantRTT: 10 * ms, wantU: 5*ms + 10001, truth: 100 * ms,
		},
		{
			name: "odd RTT and drift rounded up together",
			s:    Sample{T1: at(0), T2: at(3), T3: at(3), T4: at(1)}, at: at(1), maxDrift: 0.6,
			wantOffset: 2, wantRTT: 1, wantU: 2, truth: 3, // ceil(0.5 + 0.6)
		},
		{
			// The reference's clock gains 1ms per second on the local one
			// (θ(L) = 1e-3 L from θ(0) = 0) and holds the request 1s; the reply
			// takes 1ms. RTT is 0 and the estimate 0, yet at T4 the truth is
			// 1.001ms away: RTT/2 + maxDrift*|at-T4| would miss it.
			name: "drift during server processing: truth at the edge",
			s: Sample{
				T1: at(0), T2: at(0),
				T3: at(time.Second + ms), // local 1s, θ = 1ms
				T4: at(time.Second + ms),
			},
			at: at(time.Second + ms), maxDrift: 1e-3,
			wantOffset: 0, wantRTT: 0, wantU: 1001 * time.Microsecond, truth: 1001 * time.Microsecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tt.s.Offset(); got != tt.wantOffset {
				t.Errorf("Offset() = %v, want %v", got, tt.wantOffset)
			}
			if got := tt.s.RTT(); got != tt.wantRTT {
				t.Errorf("RTT() = %v, want %v", got, tt.wantRTT)
			}
			b := tt.s.BoundAt(tt.at, tt.maxDrift)
			if want := (Bound{tt.wantOffset, tt.wantU}); b != want {
				t.Errorf("BoundAt = %+v, want %+v", b, want)
			}
			if !b.Contains(tt.at, tt.at.Add(tt.truth)) {
				t.Errorf("%+v does not contain the truth %v", b, tt.truth)
			}
		})
	}
}

func TestBoundAtClamps(t *testing.T) {
	s := exchange(0, 0, 5*ms, 0, 5*ms)
	tests := []struct {
		name     string
		at       time.Time
		maxDrift float64
		want     time.Duration
	}{
		{"huge age", at(0).AddDate(200, 0, 0), 1, MaxUncertainty},
		{"age beyond time.Duration", at(0).AddDate(1000, 0, 0), 2e-3, MaxUncertainty},
		{"age beyond time.Duration, no drift", at(0).AddDate(1000, 0, 0), 0, 5 * ms},
		{"infinite drift", at(10 * ms), math.Inf(1), MaxUncertainty},
		{"NaN drift", at(10 * ms), math.NaN(), MaxUncertainty},
		{"negative drift", at(10 * ms), -1e-3, MaxUncertainty},
		{"no drift", at(time.Hour), 0, 5 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.BoundAt(tt.at, tt.maxDrift).Uncertainty; got != tt.want {
				t.Errorf("Uncertainty = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOffsetNoOverflow(t *testing.T) {
	far := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Sample{T1: epoch, T2: far, T3: far, T4: epoch}
	if got, want := s.Offset(), far.Sub(epoch); got != want {
		t.Errorf("Offset() = %v, want %v", got, want)
	}
	tests := []struct{ a, b, want time.Duration }{
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MinInt64, math.MinInt64},
		{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 1},
		{3, -4, 0},
		{3, 4, 3},
		{-3, -4, -3},
		{math.MaxInt64, math.MinInt64, 0},
	}
	for _, tt := range tests {
		if got := halfSum(tt.a, tt.b); got != tt.want {
			t.Errorf("halfSum(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Sample
		ok   bool
	}{
		{"valid", exchange(0, 7*ms, 1*ms, 2*ms, 3*ms), true},
		{"zero RTT", exchange(0, 7*ms, 0, 0, 0), true},
		{"T4 before T1", Sample{T1: at(10), T2: at(12), T3: at(13), T4: at(9)}, false},
		{"T3 before T2", Sample{T1: at(0), T2: at(12), T3: at(11), T4: at(20)}, false},
		{"negative RTT", Sample{T1: at(0), T2: at(0), T3: at(20 * ms), T4: at(10 * ms)}, false},
		{"missing T2", Sample{T1: at(0), T3: at(1), T4: at(2)}, false},
		{"too far apart", Sample{T1: at(0), T2: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
			T3: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), T4: at(1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadSample) {
				t.Errorf("Validate() = %v, want ErrBadSample", err)
			}
		})
	}
}

func TestBoundInterval(t *testing.T) {
	b := Bound{Offset: 100 * ms, Uncertainty: 5 * ms}
	e, l := b.Interval(at(0))
	if !e.Equal(at(95*ms)) || !l.Equal(at(105*ms)) {
		t.Errorf("Interval = [%v, %v], want [95ms, 105ms] after epoch", e.Sub(epoch), l.Sub(epoch))
	}
	for _, tt := range []struct {
		ref  time.Duration
		want bool
	}{{95 * ms, true}, {105 * ms, true}, {95*ms - 1, false}, {105*ms + 1, false}} {
		if got := b.Contains(at(0), at(tt.ref)); got != tt.want {
			t.Errorf("Contains(%v) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}
