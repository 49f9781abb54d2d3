package lockmgr_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// The leases' assumption on clock rates (L3 in the package doc): a holder
// cut off from the voters counts its lease TTL from the send time of its
// last renewal on its own clock, and the voters hold its grant 1.25 TTL
// from applying that renewal on theirs. The holder's clock runs slow and
// the voters' fast. Within the bound (±4 %: 2 s of the holder's clock
// last 2.08 s, the voters' 2.5 s last 2.4 s) the holder's lease ends
// before the majority grants the id again. Past it (±20 %: 2.5 s against
// 2.08 s) the new holder is granted the id while the old one still holds
// it: the holds overlap, which is what the drift scenario of the chaos
// engine shows as L3 broken.
func TestSimClockRates(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ppm     float64 // the holder's clock runs slow by it, the others fast
		overlap bool
	}{
		{"within the bound", 40_000, false},
		{"past the bound", 200_000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const ttl = 2 * time.Second
				e := startEnv(t, 3, lockmgr.LockDelay(ttl+ttl/4))
				holder, other := notVotersLeader(t, e), ""
				for _, n := range e.c.Names() {
					e.c.SetDrift(n, tt.ppm)
					if n != holder && other == "" {
						other = n
					}
				}
				e.c.SetDrift(holder, -tt.ppm)
				old, err := e.m[holder].Acquire(context.Background(), "r", lockmgr.TTL(ttl))
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(ttl) // renewed a few times on the slowed clock
				rest := slices.DeleteFunc(e.c.Names(), func(n string) bool { return n == holder })
				e.c.Partition([]string{holder}, rest)
				cut := time.Now()
				ended := make(chan time.Duration, 1)
				go func() { <-old.Done(); ended <- time.Since(cut) }()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				l, err := e.m[other].Acquire(ctx, "r", lockmgr.TTL(ttl))
				if err != nil {
					t.Fatalf("%s Acquire after the cut: %v", other, err)
				}
				granted := time.Since(cut)
				stillHeld := old.Valid()
				end := <-ended
				t.Logf("the old lease ended %v after the cut; %s was granted the id by %v", end, other, granted)
				if stillHeld != tt.overlap {
					t.Errorf("old holder valid when the new grant returned: %v, want %v", stillHeld, tt.overlap)
				}
				l.Release(context.Background())
				e.c.Heal()
			})
		})
	}
}

// notVotersLeader returns a node of e that is not the voters' Raft
// leader, so that cutting it off leaves the majority its leader.
func notVotersLeader(t *testing.T, e *env) string {
	t.Helper()
	for _, n := range e.c.Nodes() {
		svc, release := voters.Acquire(n)
		role := svc.Info().Role
		release()
		if role != "leader" {
			return n.Name()
		}
	}
	t.Fatal("every node leads the voters")
	return ""
}
