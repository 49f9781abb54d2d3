package election

import (
	"cmp"
	"strings"
	"time"
)

// RPC methods served by every node that has an Elector.
const (
	methodSurvey  = "election.survey"
	methodClaim   = "election.claim"
	methodRenew   = "election.renew"
	methodRelease = "election.release"
)

// candidate identifies one campaign.
type candidate struct {
	ID       string `msgpack:"i"`
	Node     string `msgpack:"n"`
	Priority int    `msgpack:"p"`
}

// compareRank orders candidates by bully rank: priority, then node name,
// then id. The greater leads.
func compareRank(a, b candidate) int {
	return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Node, b.Node), strings.Compare(a.ID, b.ID))
}

// lease is a voter's view of a grant.
type lease struct {
	Cand      candidate     `msgpack:"c"`
	Term      uint64        `msgpack:"t"`
	Remaining time.Duration `msgpack:"r"` // until the voter frees it
	Confirmed bool          `msgpack:"k"` // renewed by a leader that won a majority
}

type surveyReq struct {
	Group string `msgpack:"g"`
}

type surveyResp struct {
	Promised   uint64      `msgpack:"p"`
	Lease      *lease      `msgpack:"l,omitempty"`
	Candidates []candidate `msgpack:"c,omitempty"` // campaigning on that node
}

// claimReq asks for a grant (a vote) for Term; renewReq keeps one alive.
// Both carry the lease TTL so the voter knows how long to hold it.
type claimReq struct {
	Group string        `msgpack:"g"`
	Term  uint64        `msgpack:"t"`
	Cand  candidate     `msgpack:"c"`
	TTL   time.Duration `msgpack:"d"`
	// NoPreempt: a refused claim does not ask the holder to step down
	// (the candidate's Elector has NoPreempt). Claims only.
	NoPreempt bool `msgpack:"np,omitempty"`
}

type claimResp struct {
	Granted  bool   `msgpack:"ok"`
	Promised uint64 `msgpack:"p"`
	Lease    *lease `msgpack:"l,omitempty"` // the grant that blocked the claim
}

type renewResp struct {
	OK       bool   `msgpack:"ok"`
	Promised uint64 `msgpack:"p"`
	Preempt  bool   `msgpack:"x,omitempty"` // a higher-ranked candidate is waiting
}

type releaseReq struct {
	Group string    `msgpack:"g"`
	Term  uint64    `msgpack:"t"`
	Cand  candidate `msgpack:"c"`
}
