package clock_test

import (
	"testing"
	"testing/synctest"
	"time"
)

// Stats tells the reference from a follower, says both are synced, and
// counts the exchanges a follower cut off from the reference loses.
func TestSimStatsCountsFailedSyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, w, ref, follower := syncedClocks(t)
		c.SetLoss(0)
		// The samples may have taken no virtual time (no delay before
		// syncedClocks set one): let them age, so that the follower's
		// uncertainty (RTT/2 + drift x age) is above zero.
		time.Sleep(100 * time.Millisecond)
		rs, fs := w.Clock(ref).Stats(), w.Clock(follower).Stats()
		if !rs.IsReference || !rs.Synced || rs.Uncertainty != 0 {
			t.Errorf("reference's stats %+v, want IsReference, Synced, no uncertainty", rs)
		}
		if fs.IsReference || !fs.Synced || fs.Samples == 0 || fs.Uncertainty <= 0 {
			t.Errorf("follower's stats %+v, want synced by samples, with an uncertainty", fs)
		}
		c.Block(follower, ref)
		deadline := time.Now().Add(30 * time.Second)
		for w.Clock(follower).Stats().Failed <= fs.Failed {
			if time.Now().After(deadline) {
				t.Fatalf("no failed exchange counted 30 s after the reference was cut off: %+v", w.Clock(follower).Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.Heal()
	})
}
