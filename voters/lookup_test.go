package voters_test

import (
	"testing"
	"testing/synctest"

	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/voters"
)

// Lookup finds the node's running Service and never starts one.
func TestLookup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simtest.Start(t, 1, 1).Node("n1")
		if _, _, ok := voters.Lookup(n); ok {
			t.Fatal("Lookup found a Service on a node that runs none")
		}
		if _, _, ok := voters.Lookup(n); ok {
			t.Fatal("the first Lookup started a Service")
		}
		s, release := voters.Acquire(n)
		got, lookRelease, ok := voters.Lookup(n)
		if !ok || got != s {
			t.Fatalf("Lookup = %v, %v; want the running Service", got, ok)
		}
		lookRelease()
		release()
		if _, _, ok := voters.Lookup(n); ok {
			t.Fatal("Lookup found the Service after its last user released it")
		}
	})
}
