// Package hashring is a consistent-hash ring with virtual nodes: each
// member is placed at several points, and a key belongs to the members
// that follow its hash clockwise. Adding or removing one member moves only
// the keys next to its points. It imports nothing from the rest of
// gossipsync and is not safe for concurrent use: build a new Ring per
// membership view.
package hashring

import (
	"hash/fnv"
	"slices"
	"strconv"
)

// Ring places members on a circle of 64-bit hashes.
type Ring struct {
	points  []point // sorted by hash
	members int
}

type point struct {
	hash   uint64
	member string
}

// New builds a ring of the given members, each at vnodes points (at
// least 1). Duplicate members are placed once.
func New(members []string, vnodes int) *Ring {
	vnodes = max(vnodes, 1)
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	r := &Ring{members: len(ms), points: make([]point, 0, len(ms)*vnodes)}
	for _, m := range ms {
		for i := range vnodes {
			r.points = append(r.points, point{hash: hash(m + "#" + strconv.Itoa(i)), member: m})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return compareStrings(a.member, b.member)
	})
	return r
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	// fnv's low bits mix poorly for short keys; finish with a mixer.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// Owners returns up to n distinct members for key: the owner first, then
// its successors clockwise.
func (r *Ring) Owners(key string, n int) []string {
	if len(r.points) == 0 || n <= 0 {
		return nil
	}
	n = min(n, r.members)
	h := hash(key)
	i, _ := slices.BinarySearchFunc(r.points, h, func(p point, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	out := make([]string, 0, n)
	for j := 0; len(out) < n; j++ {
		m := r.points[(i+j)%len(r.points)].member
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Len returns the number of members.
func (r *Ring) Len() int { return r.members }
