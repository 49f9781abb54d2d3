package check

import (
	"fmt"
	"slices"
	"time"
)

// ClockCheck judges clock readings against C1-C3.
//
// The truth at an instant is the reading of the node that is reference
// then, moved by the real time between its reading and the judged one.
// In real time a reading's instant is only known within [At, Done], so a
// reading is judged against the window of reference times it could have
// been compared with: a miss is a miss for every alignment. C1 is judged for a node whose bound rests on that reference's
// term; a node still on an earlier reference's samples is counted as
// stale, not judged (the package doc of clock allows one sync interval
// after a change of reference).
type ClockCheck struct {
	Observations int           // instants observed
	Judged       int           // readings checked against a reference
	Unsynced     int           // readings that returned ErrUnsynced
	Stale        int           // readings on an earlier reference's samples
	NoReference  int           // instants with no reference
	C1Misses     []string      // intervals that missed the reference's time
	C2Backwards  []string      // Now went backwards on a node
	C3Misses     []string      // two readings further apart than their uncertainties
	C3Max        time.Duration // largest disagreement between two synced nodes
	// NowOff lists readings whose Now lay outside their own Interval by
	// more than NowSlack plus the node's previous uncertainty: Now stands
	// still after a correction, which within that is normal and beyond it
	// means cluster time jumped.
	NowOff []string
	// Rate is how far any physical clock's rate may be from real time's
	// (0.04 for ±4 %): cluster time follows the reference's clock, so
	// the reference's time at another instant is known only to within
	// Rate times the real time between. 0 takes every rate as real
	// time's, which is close enough for clocks within a few hundred ppm.
	Rate float64
	// Drift is the clocks' MaxDrift (clock.MaxDrift; 0 takes the
	// default, 2000 ppm): an uncertainty grows by Drift times the age of
	// its best sample, so Now, which may hold a value read between two
	// observations, may lie outside its Interval by the uncertainty of
	// that read: up to the previous observation's plus Drift times the
	// time since it.
	Drift       float64
	Errors      []time.Duration
	Uncertainty []time.Duration
	last        map[string]time.Time
	lastU       map[string]time.Duration // each node's previous uncertainty
	lastAt      map[string]time.Time     // and when it was observed
}

// NewClockCheck returns an empty checker; feed it with Add.
func NewClockCheck() *ClockCheck {
	return &ClockCheck{last: map[string]time.Time{}, lastU: map[string]time.Duration{}, lastAt: map[string]time.Time{}}
}

// NowSlack is how far Now may lie outside its Interval before NowOff
// counts it.
const NowSlack = time.Millisecond

// OK reports whether C1-C3 held and Now never strayed from its Interval.
func (k ClockCheck) OK() bool {
	return len(k.C1Misses)+len(k.C2Backwards)+len(k.C3Misses)+len(k.NowOff) == 0
}

// Clone returns a copy that later Adds do not change.
func (k *ClockCheck) Clone() ClockCheck {
	c := *k
	c.C1Misses, c.C2Backwards, c.C3Misses = slices.Clone(k.C1Misses), slices.Clone(k.C2Backwards), slices.Clone(k.C3Misses)
	c.NowOff = slices.Clone(k.NowOff)
	c.Errors, c.Uncertainty = slices.Clone(k.Errors), slices.Clone(k.Uncertainty)
	c.last, c.lastU, c.lastAt = nil, nil, nil
	return c
}

// Restarted tells the checker that node's process stopped: its next
// readings are a new clock's. C2 (and NowOff's allowance) compare a
// clock's readings with its own: a process that starts has no earlier
// Now to stay above, and after a restart of every node at once cluster
// time starts again from the new reference's physical clock, which may
// be behind the old one's.
func (k *ClockCheck) Restarted(node string) {
	delete(k.last, node)
	delete(k.lastU, node)
	delete(k.lastAt, node)
}

// Add judges the readings of every node at one instant.
func (k *ClockCheck) Add(rs []Reading) {
	k.Observations++
	ref := referenceIn(rs)
	if ref == nil {
		k.NoReference++
	}
	var synced []Reading
	for _, r := range rs {
		if r.Err != nil {
			k.Unsynced++
			continue
		}
		if last, ok := k.last[r.Node]; ok && r.Now.Before(last) {
			k.C2Backwards = append(k.C2Backwards, fmt.Sprintf("%s: Now went back %v", r.Node, last.Sub(r.Now)))
		}
		k.last[r.Node] = r.Now
		// Now holds still after a correction, so it may lie outside the
		// new interval by up to the previous uncertainty.
		// Now was read after Interval: allow for the real time between.
		iv := r.Interval
		if !r.NowAt.IsZero() {
			iv.Latest = iv.Latest.Add(r.NowAt.Sub(r.At))
		}
		if off := outside(r.Now, iv); off > NowSlack+k.heldAllowance(r) {
			k.NowOff = append(k.NowOff, fmt.Sprintf("%s: Now lies %v outside its interval", r.Node, off))
		}
		k.lastU[r.Node], k.lastAt[r.Node] = r.Interval.Uncertainty(), r.At
		synced = append(synced, r)
		switch classify(r, ref) {
		case ClockStale:
			k.Stale++
		case ClockJudged:
			k.judge(r, *ref)
		}
	}
	k.disagreement(synced)
}

// heldAllowance is how far r's Now may lie outside its Interval because
// it holds a value read earlier (see Drift): at most the uncertainty of
// that read.
func (k *ClockCheck) heldAllowance(r Reading) time.Duration {
	u := k.lastU[r.Node]
	at, ok := k.lastAt[r.Node]
	if !ok || r.At.Before(at) {
		return u
	}
	drift := k.Drift
	if drift == 0 {
		drift = defaultDrift
	}
	return u + time.Duration(drift*float64(r.At.Sub(at)))
}

// defaultDrift is clock's default MaxDrift.
const defaultDrift = 2000e-6

func (k *ClockCheck) judge(r, ref Reading) {
	k.Judged++
	k.Errors = append(k.Errors, absDur(ClockError(r, ref)))
	k.Uncertainty = append(k.Uncertainty, r.Interval.Uncertainty())
	// The reference's time at r's instant lies in [lo, hi].
	lo := ref.Interval.Earliest.Add(k.advance(r.At.Sub(ref.Done), -1))
	hi := ref.Interval.Latest.Add(k.advance(r.Done.Sub(ref.At), +1))
	if hi.Before(r.Interval.Earliest) || lo.After(r.Interval.Latest) {
		k.C1Misses = append(k.C1Misses, fmt.Sprintf("%s: interval ±%v misses the reference's time by %v", r.Node, r.Interval.Uncertainty(), missBy(r.Interval, lo, hi)))
	}
}

// advance returns how far the reference's time moves in d of real time,
// at the lowest (sign -1) or highest (+1) rate Rate allows.
func (k *ClockCheck) advance(d time.Duration, sign float64) time.Duration {
	return d + time.Duration(sign*k.Rate*float64(absDur(d)))
}

// outside returns how far t lies outside iv (0 if within).
func outside(t time.Time, iv Interval) time.Duration {
	switch {
	case t.Before(iv.Earliest):
		return iv.Earliest.Sub(t)
	case t.After(iv.Latest):
		return t.Sub(iv.Latest)
	}
	return 0
}

// center is the middle of the instants a reading may have been taken at.
func center(r Reading) time.Time { return r.At.Add(r.Done.Sub(r.At) / 2) }

func missBy(iv Interval, lo, hi time.Time) time.Duration {
	if hi.Before(iv.Earliest) {
		return iv.Earliest.Sub(hi)
	}
	return lo.Sub(iv.Latest)
}

// disagreement checks C3 on the midpoints of every pair of synced nodes.
func (k *ClockCheck) disagreement(rs []Reading) {
	for i, a := range rs {
		for _, b := range rs[i+1:] {
			d := absDur(mid(a.Interval).Sub(mid(b.Interval).Add(center(a).Sub(center(b)))))
			k.C3Max = max(k.C3Max, d)
			// Allow for not knowing the instants within [At, Done],
			// and for the reference's rate over the time between.
			slack := a.Done.Sub(a.At) + b.Done.Sub(b.At) + time.Duration(k.Rate*float64(absDur(center(a).Sub(center(b)))))
			if d > a.Interval.Uncertainty()+b.Interval.Uncertainty()+slack && a.Stats.Term == b.Stats.Term {
				k.C3Misses = append(k.C3Misses, fmt.Sprintf("%s and %s differ by %v, more than ±%v and ±%v", a.Node, b.Node, d, a.Interval.Uncertainty(), b.Interval.Uncertainty()))
			}
		}
	}
}

func mid(iv Interval) time.Time {
	return iv.Earliest.Add(iv.Latest.Sub(iv.Earliest) / 2)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Percentile returns the p-th percentile (0..100) of ds, or 0 if empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// Reading is one node's clock at one instant. In real time the instant
// is only known to lie between At and Done; under synctest they are equal.
type Reading struct {
	Node     string
	At, Done time.Time // real (or virtual) time just before and after Interval was read
	Now      time.Time
	NowAt    time.Time // real (or virtual) time just after Now was read
	Interval Interval
	Stats    ClockStats
	Err      error
}

// Interval is what a clock's Interval returned (Interval's
// bounds): the checker imports no clock, nor anything with a network.
type Interval struct {
	Earliest, Latest time.Time
}

// Uncertainty is half the interval's width, as Interval's.
func (i Interval) Uncertainty() time.Duration { return i.Latest.Sub(i.Earliest) / 2 }

// ClockStats is what the checker needs of a clock's Stats at a reading.
type ClockStats struct {
	Reference   string // node name of the reference the clock follows; "" if none known
	Term        uint64 // the reference term its bound rests on
	IsReference bool   // this node is the reference
}
