package leases

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Holder names one holder of a lease: a lock acquisition (Node, its
// Manager instance as Owner, a Handle unique within that Manager) or an
// election candidate (Node, the candidate id as Owner, its Priority).
type Holder struct {
	Node     string `msgpack:"n"`
	Owner    string `msgpack:"o"`
	Handle   uint64 `msgpack:"h,omitempty"`
	Priority int    `msgpack:"p,omitempty"`
}

// CompareRank orders holders by bully rank: Priority, then Node, then
// Owner, then Handle. The greater ranks higher.
func CompareRank(a, b Holder) int {
	return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Node, b.Node),
		strings.Compare(a.Owner, b.Owner), cmp.Compare(a.Handle, b.Handle))
}

// Op is what a command does.
type Op uint8

// The commands of a Table.
const (
	// OpClaim grants Key to Holder for TTL if nobody holds it: a new
	// token, above every token the table issued before. A claim by the
	// holder itself (a retry) returns its token again. Free, if set, is
	// a release applied first.
	OpClaim Op = iota + 1
	// OpRenew extends Holder's grant of Key with Token for TTL.
	OpRenew
	// OpRelease frees Holder's grant of Key with Token (0: any token).
	OpRelease
	// OpExpire frees the grant of Key with Token if it was renewed
	// exactly Seq times: a member saw it unrenewed for its hold.
	OpExpire
	// OpEndQuiet ends the quiet period of a rebuilt table.
	OpEndQuiet
	// OpFound starts a new table: its first token is Token+1, and with
	// Quiet it refuses claims until OpEndQuiet (a table rebuilt after
	// its voters were lost may not know of grants that are still live).
	// A table refuses claims until it is founded; a second OpFound does
	// nothing.
	OpFound
)

func (o Op) String() string {
	switch o {
	case OpClaim:
		return "claim"
	case OpRenew:
		return "renew"
	case OpRelease:
		return "release"
	case OpExpire:
		return "expire"
	case OpEndQuiet:
		return "end-quiet"
	case OpFound:
		return "found"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Cmd is one command to the table; the voters replicate commands in
// batches (one log entry, many commands).
type Cmd struct {
	Op     Op            `msgpack:"o"`
	Key    string        `msgpack:"k,omitempty"`
	Holder Holder        `msgpack:"h"`
	Token  uint64        `msgpack:"t,omitempty"`
	TTL    time.Duration `msgpack:"d,omitempty"`
	Seq    uint64        `msgpack:"s,omitempty"` // OpExpire: renewals the grant had
	// Free (OpClaim): the previous holder's final release, relayed by
	// a lock's coordinator and applied just before the claim.
	Free *Cmd `msgpack:"f,omitempty"`
	// Preempt (OpClaim): if refused for a holder of lower rank, ask it
	// to step down (its next renewal is told so).
	Preempt bool `msgpack:"x,omitempty"`
	// Quiet (OpFound): the table starts quiet.
	Quiet bool `msgpack:"q,omitempty"`
}

// Result is what a command returned on the member that applied it.
// Remaining and Preempt are read from that member's own clock; the rest
// is the same on every member.
type Result struct {
	OK    bool   `msgpack:"ok,omitempty"`
	Token uint64 `msgpack:"t,omitempty"` // claim: granted, or the live holder's token
	// Holder: a refused claim's live holder.
	Holder *Holder `msgpack:"h,omitempty"`
	// Remaining: a refused claim's live grant is held this long at most
	// by the member that answered.
	Remaining time.Duration `msgpack:"r,omitempty"`
	Quiet     bool          `msgpack:"q,omitempty"` // a claim refused: the table is quiet
	// Preempt (renew): a higher-ranked claimant asked the holder to
	// step down within the last hold.
	Preempt bool `msgpack:"x,omitempty"`
	// Last: the highest token issued so far.
	Last uint64 `msgpack:"l,omitempty"`
}

// Hold is how long a member keeps a grant after it applied its claim or
// last renewal: TTL plus a quarter. The holder counts its lease TTL from
// before it sent the command, so with clock rates within about 10 % of
// each other every member holds a grant longer than its holder uses it.
func Hold(ttl time.Duration) time.Duration { return ttl + ttl/4 }
