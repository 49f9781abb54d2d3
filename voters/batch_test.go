package voters_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
)

// Renewals that reach the leader together are proposed as one entry,
// and each caller gets the results of its own commands: a renewal of a
// grant that is gone fails beside others that succeed.
func TestRenewalsBatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3, 1)
		e.waitWhole(10*time.Second, 3)
		const n = 12
		tokens := make([]uint64, n)
		holders := make([]leases.Holder, n)
		for i := range n {
			holders[i] = leases.Holder{Node: "n2", Owner: "m", Handle: uint64(i + 1)}
			r := do(t, e.s("n2"), 5*time.Second, claim(fmt.Sprint("k", i), holders[i], 10*time.Second))
			if !r.OK {
				t.Fatalf("claim %d: %+v", i, r)
			}
			tokens[i] = r.Token
		}
		// One grant is gone: its renewal must fail alone.
		do(t, e.s("n2"), 5*time.Second, leases.Cmd{Op: leases.OpRelease, Key: "k0", Holder: holders[0], Token: tokens[0]})
		synctest.Wait()
		lead := e.s(e.leader())
		before := lead.State().Applied
		var wg sync.WaitGroup
		res := make([][]leases.Result, n)
		errs := make([]error, n)
		for i := range n {
			node := fmt.Sprint("n", 1+i%3)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res[i], errs[i] = e.s(node).Do(ctx, []leases.Cmd{{Op: leases.OpRenew, Key: fmt.Sprint("k", i), Holder: holders[i], Token: tokens[i], TTL: 10 * time.Second}})
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || len(res[i]) != 1 {
				t.Fatalf("renewal %d: %v, %d results", i, errs[i], len(res[i]))
			}
			if ok := res[i][0].OK; ok != (i != 0) {
				t.Errorf("renewal %d: OK %v, want %v", i, ok, i != 0)
			}
		}
		// Heartbeats append nothing; no other command ran meanwhile.
		if got := lead.State().Applied - before; got != 1 {
			t.Errorf("%d renewals took %d entries, want 1", n, got)
		}
	})
}
