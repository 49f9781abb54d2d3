package main

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// Status is what an agent serves at GET /v1/status, as JSON, and what
// the members and status commands and the /ui page show. One call
// reads the node's own state and, for the leaders and locks, the voters'
// lease table (this node's copy on a voter, else the leader's, over
// RPC). An example, abridged:
//
//	{
//	  "node":    {"name": "a", "addr": "127.0.0.1:7946", "http": "127.0.0.1:8500", "profile": "lan",
//	              "healthy": true, "health": "ok", "started": "2026-12-06T19:00:00Z", "time": "2026-12-06T19:05:00Z"},
//	  "members": [{"name": "a", "addr": "127.0.0.1:7946", "state": "alive", "role": "leader", "tags": {"_v": "9f3c..."}}],
//	  "voters":  {"group": "1a2b3c", "leader": "a", "voters": ["a", "b", "c"], "learners": [], "role": "leader", "epoch": 7},
//	  "leaders": [{"group": "agent", "node": "a", "id": "a", "term": "1796584800000123", "remaining_ms": 1180.5}],
//	  "locks":   [{"id": "jobs/42", "node": "c", "owner": "c-5f1e", "handle": 3, "token": "1796584800000131", "remaining_ms": 11940}],
//	  "grants":  {"from": "a", "more": 0},
//	  "clock":   {"synced": true, "reference": "a", "is_reference": true, "term": "1796584800000120",
//	              "now": "2026-12-06T19:05:00.000001Z", "offset_ms": 0, "uncertainty_ms": 0.02, "rtt_ms": 0, "samples": 0, "rejected": 0}
//	}
//
// Durations are milliseconds (fractional); tokens and terms are decimal
// strings, since they pass 2^53 and JavaScript numbers would round them.
// Lists are sorted (members by name, leaders by group, locks by id) and
// never null. A section that could not be read carries an "error"
// string and is otherwise empty: "grants" when the voters' table could
// not be read (no voter group yet, or none reachable), "clock" while
// the clock is not synchronized.
type Status struct {
	Node    NodeStatus     `json:"node"`
	Members []MemberStatus `json:"members"`
	Voters  VotersStatus   `json:"voters"`
	Leaders []LeaderStatus `json:"leaders"`
	Locks   []LockStatus   `json:"locks"`
	Grants  GrantsStatus   `json:"grants"`
	Clock   ClockStatus    `json:"clock"`
}

// NodeStatus is the agent's own node.
type NodeStatus struct {
	Name    string    `json:"name"`
	Addr    string    `json:"addr"`    // the advertised gossip address
	HTTP    string    `json:"http"`    // the address this API is served on
	Profile string    `json:"profile"` // lan, wan or local
	Healthy bool      `json:"healthy"` // as /healthz: running and joined
	Health  string    `json:"health"`  // "ok", or why not
	Started time.Time `json:"started"`
	Time    time.Time `json:"time"` // this node's physical clock when the status was made
}

// MemberStatus is one member as this node knows it.
type MemberStatus struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	State string `json:"state"` // alive, leaving, left or failed
	// Role in the voter group: leader, voter, learner, or client (uses
	// the voters).
	Role string            `json:"role"`
	Tags map[string]string `json:"tags"` // gossiped tags; "_" keys are gossipsync's own
}

// VotersStatus is this node's view of the voter group (voters.Info).
type VotersStatus struct {
	Group    string   `json:"group"` // hex ID; "" while none is known
	Leader   string   `json:"leader"`
	Voters   []string `json:"voters"`
	Learners []string `json:"learners"`
	Role     string   `json:"role"`  // this node's: leader, voter, learner or client
	Epoch    uint64   `json:"epoch"` // the configuration's log index, on a member (0 if unknown)
}

// LeaderStatus is the live lease of an election group in the voters'
// table: its leader.
type LeaderStatus struct {
	Group       string  `json:"group"`
	Node        string  `json:"node"`
	ID          string  `json:"id"`   // the candidate id
	Term        string  `json:"term"` // the lease's term, a fencing token
	RemainingMS float64 `json:"remaining_ms"`
}

// LockStatus is a held lock in the voters' table.
type LockStatus struct {
	ID string `json:"id"` // the lock's, or the semaphore's when Slot is set
	// Slot: the slot of the semaphore ID that the grant holds (see
	// lockmgr.AcquireSemaphore); absent for a plain lock.
	Slot        *int    `json:"slot,omitempty"`
	Node        string  `json:"node"`   // the holder's node
	Owner       string  `json:"owner"`  // the holding lock Manager's instance
	Handle      uint64  `json:"handle"` // the acquisition within that Manager
	Token       string  `json:"token"`  // the fencing token
	RemainingMS float64 `json:"remaining_ms"`
}

// GrantsStatus says where leaders and locks were read.
type GrantsStatus struct {
	From  string `json:"from,omitempty"`  // the voter whose table was read
	More  int    `json:"more"`            // grants left out (at most voters.MaxGrants are listed)
	Other int    `json:"other,omitempty"` // grants of keys neither a lock's nor an election's
	Error string `json:"error,omitempty"`
}

// ClockStatus is the node's cluster clock (clock.Stats).
type ClockStatus struct {
	Synced        bool      `json:"synced"` // readings succeed now
	Reference     string    `json:"reference"`
	IsReference   bool      `json:"is_reference"`
	Term          string    `json:"term"`
	Now           time.Time `json:"now,omitzero"` // cluster time, when synced
	OffsetMS      float64   `json:"offset_ms"`    // cluster time minus this node's physical time
	UncertaintyMS float64   `json:"uncertainty_ms"`
	RTTMS         float64   `json:"rtt_ms"`
	Samples       int       `json:"samples"`
	Rejected      int       `json:"rejected"`
	Error         string    `json:"error,omitempty"`
}

// ms is d in fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// The lease-table keys of the primitives: lockmgr names a lock's key
// "l/" + id, election a group's "e/" + name (their key functions).
const (
	lockKeyPrefix     = "l/"
	electionKeyPrefix = "e/"
)

// fillGrants sets st's leaders, locks and grants from a listing of the
// voters' table.
func fillGrants(st *Status, g voters.Grants) {
	st.Grants = GrantsStatus{From: g.From, More: g.More}
	for _, gr := range g.Grants {
		term := strconv.FormatUint(gr.Token, 10)
		switch {
		case strings.HasPrefix(gr.Key, lockKeyPrefix):
			l := LockStatus{ID: strings.TrimPrefix(gr.Key, lockKeyPrefix), Node: gr.Node,
				Owner: gr.Owner, Handle: gr.Handle, Token: term, RemainingMS: ms(gr.Remaining)}
			if sem, slot, ok := lockmgr.ParseSlotID(l.ID); ok {
				l.ID, l.Slot = sem, &slot
			}
			st.Locks = append(st.Locks, l)
		case strings.HasPrefix(gr.Key, electionKeyPrefix):
			st.Leaders = append(st.Leaders, LeaderStatus{Group: strings.TrimPrefix(gr.Key, electionKeyPrefix), Node: gr.Node,
				ID: gr.Owner, Term: term, RemainingMS: ms(gr.Remaining)})
		default:
			st.Grants.Other++
		}
	}
}

// votersStatus is the status of a view of the voter group.
func votersStatus(in voters.Info) VotersStatus {
	vs := VotersStatus{Leader: in.Leader, Voters: nonNil(in.Voters), Learners: nonNil(in.Learners), Role: in.Role, Epoch: in.Epoch}
	if in.Group != 0 {
		vs.Group = strconv.FormatUint(in.Group, 16)
	}
	if vs.Role == "" {
		vs.Role = "client"
	}
	return vs
}

// membersStatus lists the members with their roles in the voter group
// as in describes it.
func membersStatus(members []cluster.MemberState, in voters.Info) []MemberStatus {
	out := make([]MemberStatus, 0, len(members))
	for _, m := range members {
		role := "client"
		switch {
		case m.Name == in.Leader && in.Leader != "":
			role = "leader"
		case slices.Contains(in.Voters, m.Name):
			role = "voter"
		case slices.Contains(in.Learners, m.Name):
			role = "learner"
		}
		tags := m.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		out = append(out, MemberStatus{Name: m.Name, Addr: m.Addr, State: m.State, Role: role, Tags: tags})
	}
	return out
}

// normalize makes every list of st non-nil (JSON [] rather than null)
// and sorted.
func (st *Status) normalize() {
	st.Members = nonNil(st.Members)
	st.Leaders = nonNil(st.Leaders)
	st.Locks = nonNil(st.Locks)
	st.Voters.Voters = nonNil(st.Voters.Voters)
	st.Voters.Learners = nonNil(st.Voters.Learners)
	slices.SortFunc(st.Members, func(a, b MemberStatus) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Leaders, func(a, b LeaderStatus) int { return strings.Compare(a.Group, b.Group) })
	slices.SortFunc(st.Locks, func(a, b LockStatus) int { return strings.Compare(a.ID, b.ID) })
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
