package lockmgr

import (
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/hashring"
)

// RPC methods served by every node that has a Manager.
const (
	methodClaim   = "lockmgr.claim"
	methodRenew   = "lockmgr.renew"
	methodRelease = "lockmgr.release"
	methodAcquire = "lockmgr.acquire"
	methodWake    = "lockmgr.wake"
	methodCancel  = "lockmgr.cancel"
)

// holder identifies one acquisition: the node, the Manager instance and
// a handle unique within that Manager.
type holder struct {
	Node   string `msgpack:"n"`
	Mgr    string `msgpack:"m"`
	Handle uint64 `msgpack:"h"`
}

// claimReq asks an acceptor to grant (claim) or extend (renew) a lease.
// A claim may carry Free: the final release of the previous holder, which
// the coordinator received from that holder and relays; the acceptor
// applies it before the claim, under the same lock, so a handover takes
// one round even when the holder's own release has not arrived yet.
type claimReq struct {
	ID     string        `msgpack:"i"`
	Token  uint64        `msgpack:"t"`
	Holder holder        `msgpack:"h"`
	TTL    time.Duration `msgpack:"d"`
	Free   *releaseReq   `msgpack:"f,omitempty"`
}

type claimResp struct {
	Granted  bool          `msgpack:"ok"`
	Promised uint64        `msgpack:"p"`
	Blocked  time.Duration `msgpack:"b,omitempty"` // a live grant for another holder, this long
	Quiet    time.Duration `msgpack:"q,omitempty"` // the acceptor is quiet this long
}

// releaseReq frees a grant; Token 0 frees any token of Holder. Final:
// the holder is done and sends no more renewals of the token.
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
	// send time plus 10/11 of Waited, which is never after any
	// acceptor's grant while clock rates differ by less than 10 %.
	Waited time.Duration `msgpack:"w"`
}

// wakeReq tells the coordinator of ID that a holder released it: the
// holder's final release, sent when the release did not reach the
// coordinator's own acceptor.
type wakeReq struct {
	ID      string     `msgpack:"i"`
	Release releaseReq `msgpack:"r"`
}

// cancelReq tells a coordinator that the caller of an acquire gave up.
type cancelReq struct {
	ID     string `msgpack:"i"`
	Holder holder `msgpack:"h"`
}

func memberNames(n *cluster.Node) []string { return n.MemberNames() }

// acceptors returns the acceptors of id as n sees the cluster, and how
// many grants make a majority. Quorum mode: every alive member, and a
// majority of the quorum basis. Otherwise: the id's first replicas ring
// successors, and a majority of those.
func acceptors(n *cluster.Node, id string, quorum bool, replicas int) ([]string, int) {
	names := memberNames(n)
	if quorum {
		return names, n.QuorumSize()
	}
	t := hashring.New(names, vnodes).Owners(id, replicas)
	return t, len(t)/2 + 1
}

// hasQuorum reports whether n sees a majority of its quorum basis.
func hasQuorum(n *cluster.Node) bool { return len(n.MemberNames()) >= n.QuorumSize() }
