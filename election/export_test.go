package election

import "time"

// Test hook points (see Elector.testHook).
const (
	HookWon     = hookWon
	HookRenewed = hookRenewed
)

// SetTestHook installs f as e's test hook. Call it before e campaigns.
func SetTestHook(e *Elector, f func(point string)) { e.testHook = f }

// LeaseEnd returns the end of el's current lease on this node's clock.
func LeaseEnd(el *Elected) time.Time {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.cur.end
}
