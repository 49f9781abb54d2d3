package lockmgr

// Seams for the tests of package lockmgr_test: each stands in for a
// process frozen at one point, which a test in virtual time does by
// sleeping in the hook.

// SetAfterGrant makes Acquire call f after its grant arrived and before
// it returns.
func SetAfterGrant(m *Manager, f func()) { m.hooks.afterGrant = f }

// SetBeforeRenew makes every renew loop of m call f before it sends a
// renewal.
func SetBeforeRenew(m *Manager, f func()) { m.hooks.beforeRenew = f }

// SetOnRenewRequest makes the lock service of m's node call f with the
// number of renewals in each request it sends.
func SetOnRenewRequest(m *Manager, f func(n int)) {
	r := &m.srv.renewals
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onSend = f
}

// SetFirstSlot makes every semaphore pass of m start at the slot f
// returns, in place of a random one.
func SetFirstSlot(m *Manager, f func(slots int) int) { m.hooks.firstSlot = f }

// SetRingCoordinators makes m ask the ring's owners of an id alone, not
// the voters' leader first: tests that pick the coordinator by the id.
func SetRingCoordinators(m *Manager) { m.hooks.ringOnly = true }

// Coordinator returns the member that coordinated l's grant.
func Coordinator(l *Lock) string { return l.coord }
