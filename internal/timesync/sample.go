package timesync

import (
	"errors"
	"fmt"
	"math"
	"time"
)

var (
	// ErrBadSample reports a sample whose timestamps cannot come from one
	// honest exchange.
	ErrBadSample = errors.New("timesync: bad sample")
	// ErrInconsistent reports a sample that contradicts the samples already
	// in a Filter under its drift bound.
	ErrInconsistent = errors.New("timesync: sample inconsistent with filter")
)

// Sample is one exchange with the reference: T1 and T4 on the local clock,
// T2 and T3 on the reference's (cluster) clock. T1 is when the request was
// sent, T2 when the reference received it, T3 when the reference sent the
// reply and T4 when the reply arrived. A Sample is a value, safe to share.
type Sample struct {
	T1, T2, T3, T4 time.Time
}

// Offset returns the estimated reference time minus local time,
// ((T2-T1)+(T3-T4))/2, truncated toward zero.
func (s Sample) Offset() time.Duration {
	return halfSum(s.T2.Sub(s.T1), s.T3.Sub(s.T4))
}

// RTT returns the time the exchange spent on the wire, (T4-T1)-(T3-T2).
func (s Sample) RTT() time.Duration {
	return satSub(s.T4.Sub(s.T1), s.T3.Sub(s.T2))
}

// Validate returns an error wrapping ErrBadSample, saying why, if a
// timestamp is missing, T4 is before T1, T3 is before T2, the RTT is
// negative, or two timestamps are too far apart for a time.Duration.
func (s Sample) Validate() error {
	for i, t := range [...]time.Time{s.T1, s.T2, s.T3, s.T4} {
		if t.IsZero() {
			return fmt.Errorf("%w: T%d is zero", ErrBadSample, i+1)
		}
	}
	for _, d := range [...]time.Duration{s.T2.Sub(s.T1), s.T3.Sub(s.T4), s.T4.Sub(s.T1), s.T3.Sub(s.T2)} {
		if d == math.MaxInt64 || d == math.MinInt64 {
			return fmt.Errorf("%w: timestamps %v, %v, %v, %v too far apart", ErrBadSample, s.T1, s.T2, s.T3, s.T4)
		}
	}
	switch {
	case s.T4.Before(s.T1):
		return fmt.Errorf("%w: reply received (T4) %v before request sent (T1)", ErrBadSample, s.T1.Sub(s.T4))
	case s.T3.Before(s.T2):
		return fmt.Errorf("%w: reply sent (T3) %v before request received (T2)", ErrBadSample, s.T2.Sub(s.T3))
	case s.RTT() < 0:
		return fmt.Errorf("%w: reference held the request %v, longer than the round trip %v",
			ErrBadSample, s.T3.Sub(s.T2), s.T4.Sub(s.T1))
	}
	return nil
}

// BoundAt returns the interval, against the local clock at local time at,
// that contains the reference's time if s is valid and the two clocks' rates
// differ by at most maxDrift: Offset is s.Offset() and Uncertainty is
//
//	RTT/2 + maxDrift*(|at-T4| + (T4-T1))
//
// rounded up to whole nanoseconds. The drift term counts the exchange itself
// (T4-T1), not only the age since T4: the package documentation shows why.
// A maxDrift that is negative or NaN bounds nothing: the uncertainty is then
// the clamp value MaxUncertainty, as it is whenever the sum would overflow.
func (s Sample) BoundAt(at time.Time, maxDrift float64) Bound {
	age := satAdd(abs(at.Sub(s.T4)), max(s.T4.Sub(s.T1), 0))
	drift := maxDrift * float64(age)
	if !(maxDrift >= 0) || (age == math.MaxInt64 && maxDrift > 0) {
		drift = math.Inf(1) // no bound, or an age too large to measure
	}
	return Bound{Offset: s.Offset(), Uncertainty: uncertainty(max(s.RTT(), 0), drift)}
}

// MaxUncertainty is the uncertainty of a bound that bounds nothing: the
// clamp for sums that would overflow time.Duration (2^62 ns, about 146
// years).
const MaxUncertainty = time.Duration(1 << 62)

// uncertainty returns ceil(rtt/2 + drift) for rtt >= 0 and drift >= 0,
// clamped to MaxUncertainty.
func uncertainty(rtt time.Duration, drift float64) time.Duration {
	half, frac := rtt/2, 0.0
	if rtt%2 != 0 {
		frac = 0.5
	}
	up := math.Ceil(drift + frac)
	if half >= MaxUncertainty || !(up < float64(MaxUncertainty)) {
		return MaxUncertainty
	}
	return min(half+time.Duration(up), MaxUncertainty)
}

// Bound is a reference-time interval expressed against the local clock: at
// local time at, reference time lies within
// [at+Offset-Uncertainty, at+Offset+Uncertainty].
type Bound struct {
	Offset      time.Duration // reference time minus local time, best estimate
	Uncertainty time.Duration // half-width of the interval, >= 0
}

// Interval returns the earliest and latest reference time at local time at.
func (b Bound) Interval(at time.Time) (earliest, latest time.Time) {
	return at.Add(b.lo()), at.Add(b.hi())
}

// Contains reports whether reference time ref lies within b at local time
// at.
func (b Bound) Contains(at, ref time.Time) bool {
	d := ref.Sub(at)
	return b.lo() <= d && d <= b.hi()
}

func (b Bound) lo() time.Duration { return satSub(b.Offset, b.Uncertainty) }
func (b Bound) hi() time.Duration { return satAdd(b.Offset, b.Uncertainty) }

// halfSum returns (a+b)/2 truncated toward zero, without overflow.
func halfSum(a, b time.Duration) time.Duration {
	if (a < 0) != (b < 0) {
		return (a + b) / 2 // opposite signs cannot overflow
	}
	return a/2 + b/2 + (a%2+b%2)/2
}

func satAdd(a, b time.Duration) time.Duration {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

func satSub(a, b time.Duration) time.Duration {
	if b == math.MinInt64 {
		return satAdd(satAdd(a, math.MaxInt64), 1)
	}
	return satAdd(a, -b)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return satSub(0, d)
	}
	return d
}
