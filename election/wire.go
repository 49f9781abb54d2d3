package election

import (
	"github.com/gossipsync/gossipsync/internal/leases"
)

// candidate identifies one candidate: its id, node and priority.
type candidate struct {
	ID       string
	Node     string
	Priority int
}

// holder returns the lease-table holder for one campaign of c. handle
// tells campaigns of the same candidate apart: a candidate that lost
// its lease and campaigns again must not be taken for the holder of the
// old grant, which the voters still hold until it is freed.
func (c candidate) holder(handle uint64) leases.Holder {
	return leases.Holder{Node: c.Node, Owner: c.ID, Priority: c.Priority, Handle: handle}
}

// rank orders candidates by bully rank: priority, then node name, then
// id. The greater leads.
func (c candidate) rank(o candidate) int {
	return leases.CompareRank(c.holder(0), o.holder(0))
}

// key is the lease-table key of a group.
func key(group string) string { return "e/" + group }
