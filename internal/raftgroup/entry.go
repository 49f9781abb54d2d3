package raftgroup

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
)

// The data of every entry the group proposes starts with a header that
// names its proposal: the proposing member and a sequence number that
// member allocates in increasing order. A configuration change carries
// the header in its Context. Entries that raft itself appends (the empty
// entry of a new leader, the automatic leave of a joint configuration,
// the bootstrap configuration) carry none.
//
//	version (1 byte, 1) | kind (1 byte) | proposer (uvarint) | seq (uvarint) | payload
const headerVersion = 1

// Kinds of proposal.
const (
	kindData  byte = 1 // a Propose: the payload goes to StateMachine.Apply
	kindFence byte = 2 // a no-op that retires this member's older proposals
	kindConf  byte = 3 // a ProposeConfChange (the header is the Context)
)

type header struct {
	kind     byte
	proposer uint64
	seq      uint64
}

func (h header) append(b []byte) []byte {
	b = append(b, headerVersion, h.kind)
	b = binary.AppendUvarint(b, h.proposer)
	return binary.AppendUvarint(b, h.seq)
}

// decodeHeader splits data into its header and payload; ok is false when
// data holds no valid header.
func decodeHeader(data []byte) (h header, payload []byte, ok bool) {
	if len(data) < 4 || data[0] != headerVersion {
		return header{}, nil, false
	}
	h.kind = data[1]
	if h.kind < kindData || h.kind > kindConf {
		return header{}, nil, false
	}
	rest := data[2:]
	var n int
	if h.proposer, n = binary.Uvarint(rest); n <= 0 || h.proposer == 0 {
		return header{}, nil, false
	}
	rest = rest[n:]
	if h.seq, n = binary.Uvarint(rest); n <= 0 || h.seq == 0 {
		return header{}, nil, false
	}
	return h, rest[n:], true
}

// A snapshot's data is the proposal table (the highest applied seq of
// each member in the configuration), then the state machine's snapshot:
//
//	version (1 byte, 1) | n (uvarint) | n x (member, seq) (uvarints) | state
//
// The table is replicated state: every member derives it from the same
// log, and it must travel with the state so that a member restored from a
// snapshot refuses the same stale proposals as the others.
var errBadSnapshot = errors.New("raftgroup: malformed snapshot")

func encodeSnapshot(table map[uint64]uint64, state []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*(1+2*len(table))+len(state))
	b = append(b, headerVersion)
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, id := range slices.Sorted(maps.Keys(table)) {
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, table[id])
	}
	return append(b, state...)
}

func decodeSnapshot(data []byte) (table map[uint64]uint64, state []byte, err error) {
	if len(data) < 2 || data[0] != headerVersion {
		return nil, nil, errBadSnapshot
	}
	rest := data[1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest))/2 {
		return nil, nil, errBadSnapshot
	}
	rest = rest[k:]
	table = make(map[uint64]uint64, n)
	for range n {
		id, k1 := binary.Uvarint(rest)
		if k1 <= 0 {
			return nil, nil, errBadSnapshot
		}
		seq, k2 := binary.Uvarint(rest[k1:])
		if k2 <= 0 {
			return nil, nil, errBadSnapshot
		}
		table[id] = seq
		rest = rest[k1+k2:]
	}
	return table, rest, nil
}
