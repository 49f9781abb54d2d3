// Package timesync holds the arithmetic of Cristian-style clock
// synchronization: the offset and round-trip time of one exchange with a
// reference clock, an interval that provably contains the reference's time,
// and a filter that intersects the intervals of several exchanges.
//
// # One exchange
//
// A node sends a request at local time T1; the reference stamps its arrival
// T2 and the reply's departure T3 on its own clock; the reply arrives at local
// time T4. Then
//
//	offset = ((T2-T1) + (T3-T4)) / 2   reference time minus local time
//	RTT    = (T4-T1) - (T3-T2)         time on the wire, both ways
//
// Why the truth lies within RTT/2 of the estimate, whatever the asymmetry:
// let θ be the true offset (reference minus local), constant for now, and let
// the request and the reply spend d1 >= 0 and d2 >= 0 on the way. Then
// T2 = T1 + d1 + θ and T4 = T3 - θ + d2, so offset = θ + (d1-d2)/2 and
// RTT = d1 + d2, hence |offset - θ| = |d1-d2|/2 <= (d1+d2)/2 = RTT/2. Equality
// holds when one direction takes all the delay, so the bound is tight, and no
// assumption about symmetric delay is needed. Symmetry only makes the
// estimate's midpoint likely to be close.
//
// # Drift
//
// The two clocks run at different rates. The package assumes a bound ρ
// (maxDrift) on the rate of change of θ measured on the local clock:
// |θ(x) - θ(y)| <= ρ|x-y| for any local times x and y. With drift, the
// reference stamps T2 and T3 at unknown local times a <= b inside [T1, T4],
// with offsets θ(a) and θ(b). Working through the algebra, for any local time
// at,
//
//	|θ(at) - offset| <= RTT/2 + ρ(|at-T4| + (T4-T1))
//
// (the estimate is off by at most half the local time on the wire, which is
// RTT plus the drift over the server's processing time b-a; and θ(at) is
// within ρ|at-b| of θ(b), with |at-b| <= |at-T4| + (T4-b)). So the age that
// multiplies ρ is counted from T1, not T4, when at is after the exchange: the
// exchange itself, including the reference's processing time T3-T2, is time
// during which the clocks drift apart. Counting from T4 (RTT/2 + ρ|at-T4|)
// is not enough: with ρ = 1e-3, a reference that takes 1 s to answer and a
// reply that takes 1 ms can put the truth 1.001 ms away from an estimate whose
// RTT is 0. Sample.BoundAt computes the bound above, rounded up to whole
// nanoseconds; the reference's time at local time at lies in
// [at+offset-U, at+offset+U].
//
// # The filter
//
// Each sample's interval contains the truth at every at as long as the drift
// bound holds, so their intersection does too, and it is the tightest bound
// the samples prove: a sample with a small RTT dominates until its interval
// has widened by drift past a fresher one's. Filter keeps the last samples
// (in the order given; the bound is computed per call, so samples may arrive
// out of T4 order) and intersects them at the time asked for. A new sample
// whose interval does not meet the filter's bound at its T4 contradicts the
// drift bound or the other samples (a clock was stepped, the reference
// changed, or a sample lied), and is rejected; the third such sample in a
// row wins, because a real step must eventually be followed.
//
// # Assumptions
//
//   - The drift bound: the relative rate of the two clocks stays within
//     maxDrift (the sum of both clocks' rate errors against true time).
//     Quartz oscillators stay well under 100 ppm; allow headroom for virtual
//     machines and for the simulation's configured drift.
//   - Causality of the exchange: the reference stamps T2 after the request
//     left (T1) and T3 before the reply arrived (T4). Delay spent before
//     stamping T1 or after stamping T4 only widens the RTT, which is honest.
//   - One local time base. T1, T4 and at must come from the same local clock
//     with no step in between. time.Time values from time.Now carry a
//     monotonic reading that Sub uses, but T2-T1 mixes a local and a
//     reference time and so uses wall readings: a step of the local wall
//     clock (an NTP step, a suspended laptop) between the exchange and at
//     moves the truth outside the bound. Prefer a local clock that never
//     steps, e.g. a fixed epoch plus the monotonic time since.
//
// # Hazards
//
//   - A violated drift bound makes the bound wrong, silently, and the
//     intersection makes that worse: one sample from a misbehaving clock can
//     narrow the bound to exclude the truth. The rejection rule only catches
//     a sample that contradicts the others.
//   - Clock granularity: the arithmetic is exact for the readings it is
//     given (offset truncated, uncertainty rounded up: together they still
//     cover the truth the readings imply), but each reading may be late by up
//     to one tick of its clock, which the bound does not include. That is
//     under 2 ns for nanosecond clocks (the simulation test allows exactly
//     that), but a microsecond or even milliseconds on some platforms; a
//     caller with coarse clocks must add about two ticks to the uncertainty
//     it reports.
//   - Durations saturate: readings more than 292 years apart are rejected by
//     Validate, and an uncertainty that would overflow (a huge age times the
//     drift) is clamped to MaxUncertainty (2^62 ns, about 146 years), which
//     bounds nothing but stays honest.
//   - With long server processing and drift at the bound, an honest
//     exchange can measure RTT < 0 (the reference's clock ran fast while it
//     held the request); Validate rejects it, which loses a sample but never
//     a guarantee.
//   - Widen(d) after a reference change is honest for times after the change,
//     if the new reference's time differed from the old one's by at most d at
//     the change and its drift against the local clock is also within
//     maxDrift.
package timesync
