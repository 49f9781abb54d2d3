package lockmgr_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// A holder whose node pauses for longer than the TTL loses the lock to
// another node, with a higher token, and its late write is refused by
// the Fence. A Heal during the pause does not thaw the node.
func TestSimPauseLongerThanTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const id = "pause"
		var fence lockmgr.Fence
		old, oh := e.acquire(t, "n1", id)
		if err := fence.Check(id, old.Token()); err != nil {
			t.Fatalf("first write: %v", err)
		}
		paused := time.Now()
		e.c.Pause("n1", 4*testTTL)
		e.c.Heal() // must not end the pause
		l := received(t, e.acquireAsync(t, "n2", id))
		if d := time.Since(paused); d >= 4*testTTL {
			t.Errorf("n2 granted %v after the pause began; want before the pause ends (%v)", d, 4*testTTL)
		}
		if l.Token() <= old.Token() {
			t.Errorf("new token %d not above the paused holder's %d", l.Token(), old.Token())
		}
		if err := fence.Check(id, l.Token()); err != nil {
			t.Errorf("new holder's write: %v", err)
		}
		if oh.End.IsZero() || oh.End.After(e.rec.last().Start) {
			t.Errorf("paused holder's lease ended at %v, after the new grant at %v", oh.End, e.rec.last().Start)
		}
		time.Sleep(time.Until(paused.Add(4*testTTL + 10*time.Millisecond)))
		// The paused process resumes and writes with its old token.
		if err := fence.Check(id, old.Token()); !errors.Is(err, lockmgr.ErrStaleToken) {
			t.Errorf("late write with token %d = %v, want ErrStaleToken", old.Token(), err)
		}
		e.rec.release(t, e.rec.last(), l)
		time.Sleep(2 * time.Second) // n1 back in the cluster
		l3, h3 := e.acquire(t, "n1", id)
		if l3.Token() <= l.Token() {
			t.Errorf("token after the pause %d not above %d", l3.Token(), l.Token())
		}
		e.rec.release(t, h3, l3)
	})
}
