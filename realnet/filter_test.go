package realnet_test

import (
	"math/rand/v2"
	"slices"
	"time"
)

// The delayer's queue and the span its delays are drawn from: packets
// of one flow sent closer together than the span arrive reordered.
const (
	delayQueue = 7
	minDelay   = 5 * time.Millisecond
	maxDelay   = 60 * time.Millisecond
)

// checkFilter checks, before the nodes start, that each kind of rule
// acts: a one-way cut stops n1's handshake with the store and Clear
// restores it, and Delay slows a handshake by at least its two delayed
// packets (SYN, SYN-ACK).
func (s *suite) checkFilter() {
	from, store := s.nodes[0], s.storeAddr()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := s.dial(from, store, time.Second); ok {
			break // the store listens
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s cannot reach the store within 10 s of its start, before any rule", from)
		}
	}
	if err := s.net.Cut([]string{from}, []string{"store"}); err != nil {
		s.t.Fatal(err)
	}
	if _, ok := s.dial(from, store, 300*time.Millisecond); ok {
		s.t.Fatalf("a one-way cut from %s to the store does not cut", from)
	}
	s.clearRules("the check of a cut")
	if _, ok := s.dial(from, store, 3*time.Second); !ok {
		s.t.Fatalf("clearing a cut does not restore %s's path to the store", from)
	}
	s.checkDelay(from, store)
	s.clearRules("the check of a delay")
}

// checkDelay puts the Delay rule in place and checks that a handshake
// from from to addr takes at least two delays.
func (s *suite) checkDelay(from, addr string) {
	if err := s.net.Delay(delayQueue); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // the delayer may still be binding its queue
	for {
		d, ok := s.dial(from, addr, 3*time.Second)
		if ok && d >= 2*minDelay {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the delay rule does not delay: a handshake from %s to %s took %v (ok %v), want at least %v", from, addr, d, ok, 2*minDelay)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clearRules removes every rule, checking first that they matched some
// packet (a rule that never matched was no fault at all).
func (s *suite) clearRules(what string) {
	n, err := s.net.Matched()
	if err != nil {
		s.t.Fatal(err)
	}
	if n == 0 {
		s.t.Fatalf("the rules of %s matched no packet", what)
	}
	if err := s.net.Clear(); err != nil {
		s.t.Fatal(err)
	}
}

// filterFault makes one fault of the kinds that netfilter rules make:
// 6, a one-way cut between node n and the others (either way); 7, loss
// of 10-30 % of every packet; 8, delays of minDelay to maxDelay on
// every packet, which reorder them. Each lasts 3-8 s.
func (s *suite) filterFault(r *rand.Rand, i, kind int, n string) {
	d := time.Duration(3000+r.IntN(5000)) * time.Millisecond
	from := time.Now()
	var what string
	switch kind {
	case 6:
		what = "one-way cut"
		others := slices.DeleteFunc(slices.Clone(s.nodes), func(m string) bool { return m == n })
		src, dst := []string{n}, others
		if r.IntN(2) == 0 {
			src, dst = dst, src
		}
		s.t.Logf("fault %d at %s: one-way cut, %v cannot send to %v, for %v", i, clock(), src, dst, d)
		if err := s.net.Cut(src, dst); err != nil {
			s.t.Fatal(err)
		}
		if s.canDial(src[0], dst[0], 300*time.Millisecond) {
			s.t.Fatalf("the one-way cut does not cut %s from %s", src[0], dst[0])
		}
	case 7:
		what = "loss"
		p := 0.1 + 0.2*r.Float64()
		s.t.Logf("fault %d at %s: loss of %.0f %% of every packet for %v", i, clock(), 100*p, d)
		if err := s.net.Lose(p); err != nil {
			s.t.Fatal(err)
		}
	case 8:
		what = "delay and reorder"
		s.t.Logf("fault %d at %s: every packet delayed %v-%v (reordered) for %v", i, clock(), minDelay, maxDelay, d)
		s.checkDelay(s.nodes[0], s.storeAddr())
	}
	time.Sleep(time.Until(from.Add(d)))
	s.clearRules(what)
	if kind == 6 {
		s.checkHealed([][]string{s.nodes[:1], s.nodes[1:]})
	}
	s.window(what, from)
}
