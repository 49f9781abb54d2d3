package cluster

import (
	"slices"
	"strings"
)

// MemberState is a member as this node knows it, alive or not.
type MemberState struct {
	Member
	// State is "alive", "leaving", "left" or "failed". A member that
	// failed or left is kept until serf reaps it (its reconnect or
	// tombstone timeout: minutes to a day, by profile).
	State string
}

// MemberStates returns every member this node knows of, with its state:
// Members plus those leaving, left or failed and not yet reaped, sorted
// by Name. It is for reports; like Members it copies every member's
// tags.
func (n *Node) MemberStates() []MemberState {
	var out []MemberState
	for _, m := range n.serf.Members() {
		out = append(out, MemberState{Member: toMember(m), State: m.Status.String()})
	}
	slices.SortFunc(out, func(a, b MemberState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
