package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/hashring"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// A caller that gives up on its coordinator (the connection broke) and
// asks the next one must not end up holding a grant that the first
// coordinator frees when its own claim round, still running, falls
// short. The order: the coordinator n3 reaches only n1 and itself; its
// claim for the caller n1 is granted there; the link n1-n3 breaks, and
// n1 asks the next ring successor, which wins; the network heals; n3's
// round times out and it frees its claim's grants. Then n2 asks for the
// id. When n1 asked both coordinators for one holder, the second won the
// same token (the acceptors took its claim as a repeat of the first's),
// n3's release freed n1's grant everywhere, and n2 was granted the id at
// once while n1 still held it (L3 broken, found by gossipsync sim -seed 2).
func TestSimCoordinatorGivenUpFreesNothingHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		for _, m := range e.m {
			lockmgr.SetRingCoordinators(m)
		}
		ring := hashring.New(e.c.Names(), 64)
		var id string
		for i := range 1000 {
			if o := ring.Owners(fmt.Sprintf("id-%d", i), 2); o[0] == "n3" && o[1] != "n1" {
				id = fmt.Sprintf("id-%d", i)
				break
			}
		}
		block := func(from, to string) {
			ip := func(name string) string {
				host, _, _ := net.SplitHostPort(e.c.Node(name).Addr())
				return host
			}
			e.c.Net().Block(ip(from), ip(to))
		}
		for _, to := range []string{"n2", "n4", "n5"} {
			block("n3", to)
		}
		type result struct {
			l   *lockmgr.Lock
			err error
		}
		got := make(chan result, 1)
		go func() {
			l, err := e.m["n1"].Acquire(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(10*time.Second))
			got <- result{l, err}
		}()
		synctest.Wait() // n3's claim is granted by n1 and n3; the rest hang
		block("n1", "n3")
		r := <-got
		if r.err != nil {
			t.Fatalf("n1 Acquire: %v", r.err)
		}
		h := e.rec.add("n1", r.l)
		e.c.Heal()
		time.Sleep(testTTL / 4) // n3's round times out; it frees its grants
		synctest.Wait()
		// n1 holds the id and renews it: n2 must wait.
		l2, err := e.m["n2"].Acquire(context.Background(), id, lockmgr.TTL(testTTL), lockmgr.Wait(testTTL))
		if err == nil {
			h2 := e.rec.add("n2", l2)
			t.Errorf("n2 granted token %d while n1 holds token %d (n1 valid: %v)", l2.Token(), r.l.Token(), r.l.Valid())
			e.rec.release(t, h2, l2)
		} else if !errors.Is(err, lockmgr.ErrTimeout) {
			t.Errorf("n2 Acquire = %v, want ErrTimeout while n1 holds the id", err)
		}
		e.rec.release(t, h, r.l)
	})
}
