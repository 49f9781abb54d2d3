package lockmgr_test

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// TestRenewalsCoalesced: a node holding many locks of one TTL renews
// them together, one request per renewal period, not one per lock, and
// every lock stays held.
func TestRenewalsCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const locks = 30
		var mu sync.Mutex
		var requests, renewals int
		lockmgr.SetOnRenewRequest(e.m["n2"], func(n int) {
			mu.Lock()
			defer mu.Unlock()
			requests++
			renewals += n
		})
		var held []*lockmgr.Lock
		for i := range locks {
			l, h := e.acquire(t, "n2", fmt.Sprint("many-", i))
			held = append(held, l)
			defer e.rec.release(t, h, l)
			time.Sleep(7 * time.Millisecond) // acquired at scattered phases
		}
		mu.Lock()
		requests, renewals = 0, 0 // from here on, every lock is on the grid
		mu.Unlock()
		const periods = 12
		time.Sleep(periods * testTTL / 3)
		mu.Lock()
		defer mu.Unlock()
		t.Logf("%d renewals in %d requests over %d renewal periods", renewals, requests, periods)
		if renewals < locks*(periods-1) {
			t.Errorf("%d renewals of %d locks over %d periods; want at least %d", renewals, locks, periods, locks*(periods-1))
		}
		if requests > periods+2 {
			t.Errorf("%d renewal requests over %d periods; want about one a period", requests, periods)
		}
		for i, l := range held {
			if !l.Valid() {
				t.Errorf("lock %d lost", i)
			}
		}
	})
}
