package voters_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

func TestFormsAndGrants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 5, 1)
		t.Logf("5 voters after %v: %s", e.waitWhole(10*time.Second, 5), names(e.s("n1")))
		h := leases.Holder{Node: "n4", Owner: "m"}
		r := do(t, e.s("n4"), 5*time.Second, claim("k", h, time.Second))
		if !r.OK {
			t.Fatalf("claim: %+v", r)
		}
		tok := r.Token
		r = do(t, e.s("n2"), 5*time.Second, claim("k", leases.Holder{Node: "n2"}, time.Second))
		if r.OK || r.Token != tok || r.Holder == nil || *r.Holder != h {
			t.Fatalf("second claim: %+v", r)
		}
		lead := e.leader()
		e.crash(lead)
		// Four nodes are left: the dead voter is removed, and one more
		// to keep the number of voters odd.
		waitFor(t, 20*time.Second, "3 voters without "+lead, func() bool {
			ok, _ := whole(e.live(), 3) // every voter a live member
			return ok
		})
		// The grant expired meanwhile (no renewals): a new claim gets a
		// larger token.
		waitFor(t, 10*time.Second, "a new grant", func() bool {
			r := do(t, e.s("n2"), 5*time.Second, claim("k", leases.Holder{Node: "n2"}, time.Second))
			if r.OK && r.Token <= tok {
				t.Fatalf("token %d after %d", r.Token, tok)
			}
			return r.OK
		})
	})
}
