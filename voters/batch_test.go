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

// A renewal with a short TTL that joins a batch brings its proposal
// forward (the hold is at most 1/32 of every TTL in it), and a caller
// that gives up during the hold leaves the others their results.
func TestRenewalBatchHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3, 2)
		e.waitWhole(10*time.Second, 3)
		lead := e.s(e.leader())
		h := leases.Holder{Node: "n1", Owner: "m", Handle: 1}
		r := do(t, lead, 5*time.Second, claim("k", h, 10*time.Second))
		renew := func(ttl time.Duration) []leases.Cmd {
			return []leases.Cmd{{Op: leases.OpRenew, Key: "k", Holder: h, Token: r.Token, TTL: ttl}}
		}
		synctest.Wait()
		// Alone, a renewal waits the whole hold (10 ms).
		start := time.Now()
		if res, err := lead.Do(context.Background(), renew(10*time.Second)); err != nil || !res[0].OK {
			t.Fatalf("renewal: %+v %v", res, err)
		}
		if took := time.Since(start); took < 10*time.Millisecond {
			t.Fatalf("a lone renewal was answered after %v, before its hold", took)
		}
		// The first caller gives up after 1 ms; a renewal of TTL 64 ms
		// (hold 2 ms) joins at 1 ms: the batch goes at 3 ms.
		synctest.Wait()
		start = time.Now()
		firstErr := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_, err := lead.Do(ctx, renew(10*time.Second))
			firstErr <- err
		}()
		time.Sleep(time.Millisecond)
		res, err := lead.Do(context.Background(), renew(64*time.Millisecond))
		took := time.Since(start)
		if err != nil || !res[0].OK {
			t.Fatalf("second renewal: %+v %v", res, err)
		}
		if took >= 10*time.Millisecond {
			t.Errorf("the short-TTL renewal was answered after %v; its hold ends 3 ms in", took)
		}
		if err := <-firstErr; err == nil {
			t.Errorf("the caller that gave up after 1 ms got an answer")
		}
	})
}
