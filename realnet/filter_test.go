package realnet_test

import (
	"time"

	"github.com/gossipsync/gossipsync/realnet"
)

// The delayer's queue; it draws delays from realnet.MinDelay to
// realnet.MaxDelay.
const delayQueue = 7

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
		if ok && d >= 2*realnet.MinDelay {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the delay rule does not delay: a handshake from %s to %s took %v (ok %v), want at least %v", from, addr, d, ok, 2*realnet.MinDelay)
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

// filterFault makes a fault of the kinds that netfilter rules make (a
// one-way cut, loss, delay) and clears it when it is over.
func (s *suite) filterFault(f realnet.Fault) {
	from := time.Now()
	switch f.Kind {
	case realnet.OneWay:
		if err := s.net.Cut(f.Groups[0], f.Groups[1]); err != nil {
			s.t.Fatal(err)
		}
		if s.canDial(f.Groups[0][0], f.Groups[1][0], 300*time.Millisecond) {
			s.t.Fatalf("the one-way cut does not cut %s from %s", f.Groups[0][0], f.Groups[1][0])
		}
	case realnet.Loss:
		if err := s.net.Lose(f.P); err != nil {
			s.t.Fatal(err)
		}
	case realnet.Delay:
		s.checkDelay(s.nodes[0], s.storeAddr())
	default:
		s.t.Fatalf("no such fault: %v", f)
	}
	time.Sleep(time.Until(from.Add(f.For)))
	s.clearRules(f.Kind)
	if f.Kind == realnet.OneWay {
		s.checkHealed(f.Groups)
	}
}
