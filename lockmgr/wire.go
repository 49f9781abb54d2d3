package lockmgr

import (
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
)

// RPC methods served by every node that has a Manager.
const (
	methodAcquire = "lockmgr.acquire"
	methodWake    = "lockmgr.wake"
	methodCancel  = "lockmgr.cancel"
	methodLocal   = "lockmgr.local" // Quorum(false): the coordinator's own table
)

// holder identifies one acquisition: the node, the Manager instance and
// a handle unique within that Manager.
type holder struct {
	Node   string `msgpack:"n"`
	Mgr    string `msgpack:"m"`
	Handle uint64 `msgpack:"h"`
}

// releaseReq is a holder's final release of a grant (Token 0: any token
// of Holder), sent to the id's coordinator to wake the next waiter and to
// be relayed with its claim.
type releaseReq struct {
	ID     string `msgpack:"i"`
	Token  uint64 `msgpack:"t"`
	Holder holder `msgpack:"h"`
	Final  bool   `msgpack:"f,omitempty"`
}

// acquireReq asks the coordinator (ring owner) of ID to queue and serve a
// waiter. It carries the caller's mode so any node can coordinate.
type acquireReq struct {
	ID       string        `msgpack:"i"`
	Holder   holder        `msgpack:"h"`
	TTL      time.Duration `msgpack:"d"`
	Try      bool          `msgpack:"y,omitempty"`
	Quorum   bool          `msgpack:"q"`
	Replicas int           `msgpack:"r"`
}

type acquireResp struct {
	Token uint64 `msgpack:"t"`
	// Waited: from receiving the request to sending the winning claim,
	// on the coordinator's clock. The caller starts the lease at its
	// send time plus 10/11 of Waited, which is never after any voter
	// applied the grant while clock rates differ by less than 10 %.
	Waited time.Duration `msgpack:"w"`
}

// wakeReq tells the coordinator of ID that a holder released it: the
// holder's final release.
type wakeReq struct {
	ID      string     `msgpack:"i"`
	Release releaseReq `msgpack:"r"`
}

// cancelReq tells a coordinator that the caller of an acquire gave up.
type cancelReq struct {
	ID     string `msgpack:"i"`
	Holder holder `msgpack:"h"`
}

// memberNames are the members on the coordinator ring: the alive ones
// but NonVoter members, which are often short-lived (the lock command):
// ids they coordinated would move, and their waiters queue again, each
// time one leaves.
func memberNames(n *cluster.Node) []string { return n.VotingMemberNames() }

// lease returns the holder as the lease table names it.
func (h holder) lease() leases.Holder {
	return leases.Holder{Node: h.Node, Owner: h.Mgr, Handle: h.Handle}
}
