package check

import "time"

// ClockState is how ClockCheck treats one node's reading at one instant.
type ClockState int

// The states of a reading, as ClockCheck.Add sorts them.
const (
	ClockUnsynced    ClockState = iota // the reading failed: the clock is not synced
	ClockNoReference                   // synced, but no node read as the reference then
	ClockReference                     // the reading of a node that is the reference
	ClockStale                         // synced on an earlier reference's term: not judged
	ClockJudged                        // judged against the reference
)

func (s ClockState) String() string {
	switch s {
	case ClockUnsynced:
		return "unsynced"
	case ClockNoReference:
		return "no reference"
	case ClockReference:
		return "reference"
	case ClockStale:
		return "stale"
	case ClockJudged:
		return "judged"
	}
	return "unknown"
}

// ClockPoint is one node's reading at one observed instant, judged the way
// ClockCheck judges it.
type ClockPoint struct {
	Node  string
	At    time.Time // the middle of the instants the reading may have been taken at
	State ClockState
	// Error is the reading's time minus the reference's time at the
	// reading's instant (see ClockError); set when State is ClockJudged.
	Error time.Duration
	// Uncertainty is the half-width of the reading's Interval; set unless
	// State is ClockUnsynced.
	Uncertainty time.Duration
}

// ClockSeries judges the readings of every node at one instant, as
// ClockCheck.Add does, and returns a point for each reading, in order.
func ClockSeries(rs []Reading) []ClockPoint {
	ref := referenceIn(rs)
	out := make([]ClockPoint, len(rs))
	for i, r := range rs {
		p := ClockPoint{Node: r.Node, At: center(r), State: classify(r, ref)}
		if p.State != ClockUnsynced {
			p.Uncertainty = r.Interval.Uncertainty()
		}
		if p.State == ClockJudged {
			p.Error = ClockError(r, *ref)
		}
		out[i] = p
	}
	return out
}

// ClockError is how far r is off the reference's time, given ref, the
// reference's reading at (nearly) the same instant: the middle of r's
// Interval minus the middle of ref's moved by the real time between the
// two readings. Positive means r is ahead.
func ClockError(r, ref Reading) time.Duration {
	truth := mid(ref.Interval).Add(center(r).Sub(center(ref)))
	return mid(r.Interval).Sub(truth)
}

// referenceIn returns the reading, among rs, that ClockCheck takes for the
// truth: the last synced reading of a reference; nil if there is none.
func referenceIn(rs []Reading) *Reading {
	var ref *Reading
	for i := range rs {
		if rs[i].Err == nil && rs[i].Stats.IsReference {
			ref = &rs[i]
		}
	}
	return ref
}

// classify returns how ClockCheck treats r, given ref from referenceIn.
func classify(r Reading, ref *Reading) ClockState {
	switch {
	case r.Err != nil:
		return ClockUnsynced
	case ref == nil:
		return ClockNoReference
	case r.Stats.IsReference:
		return ClockReference
	case r.Stats.Term != ref.Stats.Term:
		return ClockStale
	}
	return ClockJudged
}
