package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// maxExamples caps the violations a LockVerdict lists per property; the
// counts stay exact.
const maxExamples = 100

// Violations is how often a property broke, with the first examples.
type Violations struct {
	N     int
	First []string // at most maxExamples, in the order found
}

func (v *Violations) add(format string, args ...any) {
	v.N++
	if len(v.First) < maxExamples {
		v.First = append(v.First, fmt.Sprintf(format, args...))
	}
}

// HealGrant is the first grant after a heal (L4).
type HealGrant struct {
	Heal    time.Time
	Granted bool          // some grant started after the heal
	Took    time.Duration // from the heal to that grant's Start
}

// LockVerdict judges a lock history against L1-L4, and by porcupine.
type LockVerdict struct {
	Grants    int
	PerSecond float64       // grants per second over the history's span
	P50, P99  time.Duration // acquire latency: Called to Start
	// Handovers counts the releases that a waiter, already in Acquire,
	// followed as the next holder; HandoverP50 and P99 are the times
	// from the Release call to that waiter's grant.
	Handovers                int
	HandoverP50, HandoverP99 time.Duration
	L1                       Violations // two grants of an id with one token
	L2                       Violations // a token not above every earlier-started grant's
	L3                       Violations // two holds of an id overlapping, neither paused
	Paused                   Violations // overlaps involving a paused holder (not L3)
	L4                       []HealGrant
	Stale                    int        // fresh holders' writes the Fence refused
	Late                     LateWrites // paused holders' writes after the pause
	// NotLinearizable is porcupine's verdict on the per-id lock model;
	// Porcupine says it in words, or that the search timed out.
	NotLinearizable bool
	Porcupine       string
}

// OK reports whether L1-L3 held, the history is linearizable, and the
// Fence accepted no stale write.
func (v LockVerdict) OK() bool {
	return v.L1.N+v.L2.N+v.L3.N == 0 && !v.NotLinearizable && v.Late.Accepted == 0
}

// porcupineTimeout bounds porcupine's search per id.
const porcupineTimeout = 30 * time.Second

// CheckLocks judges a lock history. Open grants (zero End) are held
// until h.End; L3 and porcupine see them so.
func CheckLocks(h LockHistory) LockVerdict {
	v := LockVerdict{Grants: len(h.Grants), Late: h.Late}
	if span := h.End.Sub(h.Begin); span > 0 {
		v.PerSecond = float64(len(h.Grants)) / span.Seconds()
	}
	var lat []time.Duration
	byID := map[string][]Grant{}
	for _, g := range h.Grants {
		lat = append(lat, g.Start.Sub(g.Called))
		if g.Stale {
			v.Stale++
		}
		byID[g.ID] = append(byID[g.ID], g)
	}
	v.P50, v.P99 = percentile(lat, 50), percentile(lat, 99)
	ids := slices.Sorted(mapsKeys(byID))
	for _, id := range ids {
		gs := byID[id]
		slices.SortStableFunc(gs, func(a, b Grant) int { return a.Start.Compare(b.Start) })
		checkTokens(id, gs, &v)
		checkOverlaps(id, gs, h.End, &v)
	}
	handovers := Handovers(h.Grants, nil)
	v.Handovers = len(handovers)
	v.HandoverP50, v.HandoverP99 = percentile(handovers, 50), percentile(handovers, 99)
	v.L4 = healGrants(h.Heals, h.Grants)
	v.NotLinearizable, v.Porcupine = checkPorcupine(ids, byID, h.End)
	return v
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkTokens finds L1 (a token granted twice) and L2 (a token not above
// the highest of the grants that started earlier) in gs, in Start order.
func checkTokens(id string, gs []Grant, v *LockVerdict) {
	seen := map[uint64]Grant{}
	var high Grant
	for i, g := range gs {
		if d, ok := seen[g.Token]; ok {
			v.L1.add("%s: token %d granted to %s at %s and to %s at %s", id, g.Token, d.Node, stamp(d.Start), g.Node, stamp(g.Start))
		}
		seen[g.Token] = g
		if i > 0 && g.Token <= high.Token {
			v.L2.add("%s: %s got token %d at %s, not above %s's %d granted at %s", id, g.Node, g.Token, stamp(g.Start), high.Node, high.Token, stamp(high.Start))
		}
		if i == 0 || g.Token > high.Token {
			high = g
		}
	}
}

// checkOverlaps finds holds of one id that overlap in time (L3), or that
// do but involve a paused holder.
func checkOverlaps(id string, gs []Grant, end time.Time, v *LockVerdict) {
	for i, b := range gs {
		for _, a := range gs[:i] {
			aEnd := cmp.Or(a.End, end)
			if !b.Start.Before(aEnd) {
				continue
			}
			out := &v.L3
			if a.Paused || b.Paused {
				out = &v.Paused
			}
			out.add("%s: %s (token %d) granted at %s, %v before %s (token %d) ended", id, b.Node, b.Token, stamp(b.Start), aEnd.Sub(b.Start).Round(10*time.Microsecond), a.Node, a.Token)
		}
	}
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

// healGrants returns, per heal, the first grant that started after it.
func healGrants(heals []time.Time, grants []Grant) []HealGrant {
	var out []HealGrant
	for _, t := range heals {
		hg := HealGrant{Heal: t}
		for _, g := range grants {
			if g.Start.After(t) && (!hg.Granted || g.Start.Sub(t) < hg.Took) {
				hg.Granted, hg.Took = true, g.Start.Sub(t)
			}
		}
		out = append(out, hg)
	}
	return out
}

// Handovers returns, for each grant of grants for which keep (nil: all)
// reports true and that followed a Release of its id while its Acquire
// was already waiting, the time from that Release to its Start.
func Handovers(grants []Grant, keep func(Grant) bool) []time.Duration {
	byID := map[string][]Grant{}
	for _, g := range grants {
		byID[g.ID] = append(byID[g.ID], g)
	}
	var out []time.Duration
	for _, id := range slices.Sorted(mapsKeys(byID)) {
		gs := byID[id]
		slices.SortStableFunc(gs, func(a, b Grant) int { return a.Start.Compare(b.Start) })
		for i := 1; i < len(gs); i++ {
			if d, ok := handover(gs[i-1], gs[i]); ok && (keep == nil || keep(gs[i])) {
				out = append(out, d)
			}
		}
	}
	return out
}

func handover(prev, next Grant) (time.Duration, bool) {
	if prev.Released && next.Called.Before(prev.End) && !next.Start.Before(prev.End) {
		return next.Start.Sub(prev.End), true
	}
	return 0, false
}

// percentile returns the p-th percentile (nearest rank) of ds, or 0.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i, 1)-1]
}

// The porcupine model of one lock id. State: whether it is held, by which
// token, and the last token granted. An acquire needs the lock free and
// a token above the last; a release frees it if its token holds it.
type (
	lockState struct {
		Held         bool
		Holder, Last uint64
	}
	lockInput struct {
		Acquire bool // else release
		Token   uint64
	}
)

var lockModel = porcupine.Model{
	Init: func() any { return lockState{} },
	Step: func(state, input, _ any) (bool, any) {
		s, in := state.(lockState), input.(lockInput)
		if in.Acquire {
			if s.Held || in.Token <= s.Last {
				return false, s
			}
			return true, lockState{Held: true, Holder: in.Token, Last: in.Token}
		}
		if !s.Held || s.Holder != in.Token {
			return false, s
		}
		return true, lockState{Last: s.Last}
	},
	DescribeOperation: func(input, _ any) string {
		in := input.(lockInput)
		if in.Acquire {
			return fmt.Sprintf("acquire(%d)", in.Token)
		}
		return fmt.Sprintf("release(%d)", in.Token)
	},
}

// lockOperations turns the grants of one id into porcupine operations:
// an acquire from Called to Start, and a release at End (h.End for open
// grants, which are released there).
func lockOperations(gs []Grant, end time.Time) []porcupine.Operation {
	var ops []porcupine.Operation
	for i, g := range gs {
		ops = append(ops, porcupine.Operation{ClientId: i, Input: lockInput{Acquire: true, Token: g.Token},
			Call: g.Called.UnixNano(), Return: g.Start.UnixNano()})
		e := cmp.Or(g.End, end).UnixNano()
		ops = append(ops, porcupine.Operation{ClientId: i, Input: lockInput{Token: g.Token}, Call: e, Return: e})
	}
	return ops
}

// checkPorcupine checks each id's history against lockModel and reports
// whether some id's is not linearizable, and the verdict in words.
func checkPorcupine(ids []string, byID map[string][]Grant, end time.Time) (bool, string) {
	var bad, unknown []string
	for _, id := range ids {
		switch porcupine.CheckOperationsTimeout(lockModel, lockOperations(byID[id], end), porcupineTimeout) {
		case porcupine.Illegal:
			bad = append(bad, id)
		case porcupine.Unknown:
			unknown = append(unknown, id)
		}
	}
	switch {
	case len(bad) > 0:
		return true, fmt.Sprintf("NOT linearizable: ids %v", bad)
	case len(unknown) > 0:
		return false, fmt.Sprintf("linearizable as far as checked; timed out on ids %v", unknown)
	}
	return false, "linearizable"
}

// Grant is one grant of a lock as its client lived it.
type Grant struct {
	ID    string
	Token uint64
	Node  string
	// Called is when Acquire was called, Start when it returned the lock,
	// End when the client stopped using it: it called Release, Done
	// closed, or its node crashed. A zero End means still held.
	Called, Start, End time.Time
	// Paused: the holder's node was paused while it held the lock, so the
	// grant may overlap a later one without breaking L3.
	Paused bool
	// Stale: the holder's first write through the Fence was refused.
	Stale bool
	// Released: the client ended the grant by calling Release (not by
	// a lost lease or a crash).
	Released bool
}

// LateWrites counts the writes that clients of paused nodes make with
// their old tokens once the pause ends.
type LateWrites struct {
	Rejected int // refused by the Fence (ErrStaleToken), as they must be after a newer grant
	Accepted int // admitted although a newer token had been granted: a fencing failure
	Harmless int // admitted, no newer token had been granted
}

// LockHistory is what a lock workload recorded.
type LockHistory struct {
	Grants     []Grant
	Heals      []time.Time // recorded by Healed
	Late       LateWrites
	Errors     map[string]int // Acquire errors by kind: no quorum, wait timed out, closed, other
	FirstOther string         // the first error of kind other
	Begin, End time.Time      // of the workload
}
