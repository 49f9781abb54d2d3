// Package hashring is a consistent-hash ring with virtual nodes: each
// member is placed at several points, and a key belongs to the members
// that follow its hash clockwise. Adding or removing one member moves only
// the keys next to its points. It imports nothing from the rest of
// gossipsync. A Ring does not change once built, so it may be shared; a
// Cache keeps the ring of the last membership view for callers that need
// one per operation.
package hashring

import (
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
)

// Ring places members on a circle of 64-bit hashes.
type Ring struct {
	points  []point  // sorted by hash
	names   []string // the members, sorted; point.member indexes it
	members int
}

type point struct {
	hash   uint64
	member int32
}

// New builds a ring of the given members, each at vnodes points (at
// least 1). Duplicate members are placed once.
func New(members []string, vnodes int) *Ring {
	vnodes = max(vnodes, 1)
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	r := &Ring{members: len(ms), names: ms, points: make([]point, 0, len(ms)*vnodes)}
	for j, m := range ms {
		for i := range vnodes {
			r.points = append(r.points, point{hash: hash(m + "#" + strconv.Itoa(i)), member: int32(j)})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return compareStrings(ms[a.member], ms[b.member])
	})
	return r
}

// Cache keeps the ring of the last members it was asked for, so that a
// caller that needs a ring per operation builds one only when the
// membership changes. Safe for concurrent use.
type Cache struct {
	vnodes int

	mu      sync.Mutex
	members []string
	ring    *Ring
}

// NewCache returns a Cache of rings with vnodes points per member.
func NewCache(vnodes int) *Cache { return &Cache{vnodes: vnodes} }

// Ring returns the ring of members, built anew only if members differ
// from the last call's.
func (c *Cache) Ring(members []string) *Ring {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ring == nil || !slices.Equal(members, c.members) {
		c.members = slices.Clone(members)
		c.ring = New(members, c.vnodes)
	}
	return c.ring
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
	seen := make([]bool, r.members)
	for j := 0; len(out) < n; j++ {
		m := r.points[(i+j)%len(r.points)].member
		if !seen[m] {
			seen[m] = true
			out = append(out, r.names[m])
		}
	}
	return out
}

// Len returns the number of members.
func (r *Ring) Len() int { return r.members }
