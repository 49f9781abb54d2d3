package check

import (
	"fmt"
	"slices"
	"time"
)

// ElectionVerdict judges recorded leases against E1-E3.
type ElectionVerdict struct {
	Leases int
	E1     []string // terms held by more than one candidate
	E2     []string // a lease whose term is not above the one before it
	E3     []string // two leases overlapping in time
}

// OK reports whether no property was broken.
func (v ElectionVerdict) OK() bool { return len(v.E1)+len(v.E2)+len(v.E3) == 0 }

// CheckElection judges leases of one group. An open lease (zero End) is
// taken to last until now.
func CheckElection(leases []LeaseRecord, now time.Time) ElectionVerdict {
	ls := slices.Clone(leases)
	for i := range ls {
		if ls[i].End.IsZero() {
			ls[i].End = now
		}
	}
	slices.SortStableFunc(ls, func(a, b LeaseRecord) int { return a.Start.Compare(b.Start) })
	v := ElectionVerdict{Leases: len(ls)}
	holders := map[uint64]string{}
	for i, l := range ls {
		who := l.Node + "/" + l.ID
		if h, ok := holders[l.Term]; ok && h != who {
			v.E1 = append(v.E1, fmt.Sprintf("term %d held by %s and %s", l.Term, h, who))
		}
		holders[l.Term] = who
		if i == 0 {
			continue
		}
		prev := ls[i-1]
		if l.Term <= prev.Term {
			v.E2 = append(v.E2, fmt.Sprintf("%s got term %d at %s after %s's term %d", who, l.Term, l.Start.Format(time.StampMilli), prev.Node, prev.Term))
		}
		for _, p := range ls[:i] {
			if l.Start.Before(p.End) {
				v.E3 = append(v.E3, fmt.Sprintf("%s (term %d) started %v before %s (term %d) ended", who, l.Term, p.End.Sub(l.Start), p.Node, p.Term))
			}
		}
	}
	return v
}

// LeaseRecord is one leadership as the leader lived it: from Elect's
// return to Revoked closing (or its node crashing).
type LeaseRecord struct {
	Group, Node, ID string
	Term            uint64
	Start, End      time.Time // End is zero while the lease is held
}
