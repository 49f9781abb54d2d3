package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/gossipsync/gossipsync/internal/errtext"
)

// A semaphore of n slots is n locks, one per slot, under ids of a form
// that plain locks may not take (SlotID). See the package doc,
// Semaphores.

// MaxSlots is the most slots a semaphore may have: a pass over a full
// semaphore tries every slot in turn.
const MaxSlots = 256

// waitWidth is how many slots AcquireSemaphore queues for at once once
// a pass found them all held.
const waitWidth = 8

// slotPrefix starts every slot id. The NUL byte keeps it apart from any
// id a person would type; ids that start with it are refused by Acquire.
const slotPrefix = "\x00sem/"

// SlotID returns the lock id of slot of the semaphore sem: "\x00sem/",
// the slot in decimal, "/" and sem. Acquire and TryAcquire refuse ids
// that begin with "\x00sem/", so no plain lock shares an id with a slot,
// and two semaphores never share a slot (the slot ends at the first
// "/"). A holder's Lock.ID returns it; Manager.Release and
// Manager.Coordinator take it.
func SlotID(sem string, slot int) string { return slotPrefix + strconv.Itoa(slot) + "/" + sem }

func isSlotID(id string) bool { return strings.HasPrefix(id, slotPrefix) }

// ParseSlotID returns the semaphore and the slot that a lock id of
// SlotID's form names; ok is false for any other id.
func ParseSlotID(id string) (sem string, slot int, ok bool) {
	rest, found := strings.CutPrefix(id, slotPrefix)
	if !found {
		return "", 0, false
	}
	n, sem, found := strings.Cut(rest, "/")
	slot, err := strconv.Atoi(n)
	if !found || err != nil || slot < 0 || strconv.Itoa(slot) != n {
		return "", 0, false
	}
	return sem, slot, true
}

// lockName names what an acquisition is for: a plain id (slot -1) or a
// slot of a semaphore.
type lockName struct {
	id   string
	sem  string
	slot int
}

func slotName(sem string, slot int) lockName {
	return lockName{id: SlotID(sem, slot), sem: sem, slot: slot}
}

// AcquireSemaphore blocks until this Manager holds one of the slots of
// the semaphore id, which lets at most slots (1 to MaxSlots) holders in
// at once, and returns the Lock of that slot: a lock like any other, with
// its own token, lease, renewals and Done, whose Slot and Semaphore say
// which it is. The semaphore id is checked as a lock id is, and names a
// semaphore apart from the plain lock of the same id. Every caller must
// pass the same slots for an id (the package doc, Semaphores).
//
// It tries each slot once, from a random one on; when all are held, it
// queues for up to 8 of them at once, as Acquire does for one id, and
// takes the first granted (a slot granted to it meanwhile is released at
// once). With more than 8 slots it tries every slot again about every
// TTL. It returns as Acquire does: ErrTimeout when the Wait option (for
// the whole call) elapsed, ctx.Err() when ctx ended, ErrNoQuorum when a
// slot's coordinator could not reach the voters for a TTL, ErrClosed
// after Close; the clean-up of the slots it gave up on goes on in the
// background.
func (m *Manager) AcquireSemaphore(ctx context.Context, id string, slots int, opts ...AcquireOption) (*Lock, error) {
	return m.acquireSemaphore(ctx, id, slots, false, opts)
}

// TryAcquireSemaphore is AcquireSemaphore that tries each slot once, as
// TryAcquire does, and returns ErrLocked when every slot is held or has
// waiters. It returns ErrNoQuorum as soon as one slot's claim goes
// unanswered (all slots are granted by the same voters).
func (m *Manager) TryAcquireSemaphore(ctx context.Context, id string, slots int, opts ...AcquireOption) (*Lock, error) {
	return m.acquireSemaphore(ctx, id, slots, true, opts)
}

func (m *Manager) acquireSemaphore(ctx context.Context, sem string, slots int, try bool, opts []AcquireOption) (*Lock, error) {
	start := time.Now()
	m.stats.acquiring.Add(1)
	l, err := m.acquireSlot(ctx, sem, slots, try, opts)
	m.stats.acquiring.Add(-1)
	m.stats.acquired(start, err)
	return l, err
}

// acquireSlot is acquireSemaphore without its statistics.
func (m *Manager) acquireSlot(ctx context.Context, sem string, slots int, try bool, opts []AcquireOption) (*Lock, error) {
	o, err := m.semOptions(sem, slots, opts)
	if err != nil {
		return nil, err
	}
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := m.callContext(ctx, o.wait)
	defer cancel()
	o.wait = 0 // the whole call's, not each slot's
	what := "semaphore " + strconv.Quote(sem)
	for {
		first := m.firstSlot(slots)
		// One slot: queue at once, as Acquire does.
		if try || slots > 1 {
			l, err := m.trySlots(cctx, sem, slots, first, o)
			switch {
			case err == nil:
				return l, nil
			case over(cctx) || m.ctx.Err() != nil:
				return nil, m.acquireErr(ctx, cctx, what, err)
			case try && errors.Is(err, ErrLocked):
				return nil, errtext.Errorf("lockmgr: ", "lockmgr: try %s: all %d slots held: %w", what, slots, ErrLocked)
			case try:
				return nil, m.acquireErr(ctx, cctx, what, err)
			}
		}
		n, bound := min(slots, waitWidth), time.Duration(0)
		if n < slots {
			bound = jitter(o.ttl) // then look at the others again
		}
		l, err := m.waitSlots(cctx, sem, slots, first, n, bound, o)
		switch {
		case l != nil:
			return l, nil
		case err != nil:
			return nil, m.acquireErr(ctx, cctx, what, err)
		}
	}
}

// firstSlot returns a random slot to start a pass at, which spreads the
// callers over the slots.
func (m *Manager) firstSlot(slots int) int {
	if m.hooks.firstSlot != nil {
		return m.hooks.firstSlot(slots) % slots
	}
	return rand.IntN(slots)
}

func (m *Manager) semOptions(sem string, slots int, opts []AcquireOption) (acqOptions, error) {
	if err := checkID(sem); err != nil {
		return acqOptions{}, err
	}
	if slots < 1 || slots > MaxSlots {
		return acqOptions{}, fmt.Errorf("lockmgr: semaphore %.40q: %d slots: want 1 to %d", sem, slots, MaxSlots)
	}
	return m.acqOptions(opts)
}

// trySlots tries each slot of sem once, from first on, and returns the
// first it wins, or ErrLocked when every slot is held. It stops at the
// first other error: every slot's claims go to the same voters, so when
// one goes unanswered (ErrNoQuorum), the next would wait as long for
// nothing.
func (m *Manager) trySlots(ctx context.Context, sem string, slots, first int, o acqOptions) (*Lock, error) {
	var err error
	for k := range slots {
		var l *Lock
		l, err = m.acquireName(ctx, slotName(sem, (first+k)%slots), true, o)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLocked) {
			return nil, err
		}
	}
	return nil, err
}

// waitSlots queues for n slots of sem at once (first, first+1, ... modulo
// slots), each as Acquire does, and returns the first granted. The
// others are given up; a slot granted before it was given up is
// released at once. It returns nil, nil when bound (> 0) elapsed first,
// and the first error otherwise (ctx ended, no quorum, m closed).
func (m *Manager) waitSlots(ctx context.Context, sem string, slots, first, n int, bound time.Duration, o acqOptions) (*Lock, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if bound > 0 {
		var cancelRound context.CancelFunc
		rctx, cancelRound = context.WithTimeout(rctx, bound)
		defer cancelRound()
	}
	type result struct {
		l   *Lock
		err error
	}
	results := make(chan result, n)
	for k := range n {
		name := slotName(sem, (first+k)%slots)
		go func() {
			l, err := m.acquireName(rctx, name, false, o)
			results <- result{l, err}
		}()
	}
	var won *Lock
	var failed error
	for range n {
		r := <-results
		switch {
		case r.l != nil && won == nil:
			won = r.l
			cancel() // leave the other queues
		case r.l != nil:
			r.l.stopRenewing() // released in the background, as by Release
		case won != nil || failed != nil:
		case bound > 0 && over(rctx) && !over(ctx) && m.ctx.Err() == nil:
			// The round ended: the caller passes over the slots again.
		default:
			failed = r.err
			cancel()
		}
	}
	if won != nil {
		return won, nil
	}
	return nil, failed
}
