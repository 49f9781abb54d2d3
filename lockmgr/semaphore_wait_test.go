package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// fillSem takes every slot of sem, from the nodes in turn, and returns
// the locks and their holds by slot.
// releaseAllBut releases the slots of locks but freed (released before),
// and the waiter's lock l, the last hold recorded.
func (e *env) releaseAllBut(t *testing.T, locks []*lockmgr.Lock, holds []*hold, freed int, l *lockmgr.Lock) {
	t.Helper()
	for i, held := range locks {
		if i != freed {
			e.rec.release(t, holds[i], held)
		}
	}
	e.rec.release(t, e.rec.last(), l)
}

func (e *env) fillSem(t *testing.T, sem string, slots int) ([]*lockmgr.Lock, []*hold) {
	t.Helper()
	locks, holds := make([]*lockmgr.Lock, slots), make([]*hold, slots)
	names := e.c.Names()
	for i := range slots {
		l, h := e.acquireSem(t, names[i%len(names)], sem, slots)
		if locks[l.Slot()] != nil {
			t.Fatalf("slot %d granted twice", l.Slot())
		}
		locks[l.Slot()], holds[l.Slot()] = l, h
	}
	return locks, holds
}

// notYet fails the test if got already has a lock.
func notYet(t *testing.T, got <-chan *lockmgr.Lock, what string) {
	t.Helper()
	select {
	case <-got:
		t.Fatalf("%s: a waiter got a slot of a full semaphore", what)
	default:
	}
}

// A waiter of a full semaphore gets the slot that frees, whichever it
// is, about a round trip after its release; TryAcquireSemaphore finds
// the semaphore full. The waiter's passes start at slot 0, so that
// freeing each slot in turn covers every place in its order.
func TestSimSemaphoreWaiterTakesReleasedSlot(t *testing.T) {
	const slots = 3
	for freed := range slots {
		t.Run(fmt.Sprintf("slot%d", freed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := startEnv(t, 3)
				lockmgr.SetFirstSlot(e.m["n2"], func(int) int { return 0 })
				locks, holds := e.fillSem(t, "pool", slots)
				_, err := e.m["n1"].TryAcquireSemaphore(context.Background(), "pool", slots, lockmgr.TTL(testTTL))
				if !errors.Is(err, lockmgr.ErrLocked) {
					t.Errorf("TryAcquireSemaphore of a full semaphore = %v, want ErrLocked", err)
				}
				got := e.acquireSemAsync(t, "n2", "pool", slots)
				time.Sleep(time.Second) // renewals go on; the waiter waits
				notYet(t, got, "while full")
				released := time.Now()
				e.rec.release(t, holds[freed], locks[freed])
				l := received(t, got)
				t.Logf("waiter granted %v after the release", time.Since(released))
				if d := time.Since(released); d > testTTL/4 {
					t.Errorf("waiter granted %v after the release, want about a round trip", d)
				}
				if l.Slot() != freed || l.Token() <= locks[freed].Token() {
					t.Errorf("waiter got slot %d token %d, want slot %d above token %d", l.Slot(), l.Token(), freed, locks[freed].Token())
				}
				e.releaseAllBut(t, locks, holds, freed, l)
			})
		})
	}
}

// With more slots than a waiter queues for at once, it still finds the
// one that frees, within about a TTL.
func TestSimSemaphoreManySlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const slots = 12
		locks, holds := e.fillSem(t, "wide", slots)
		_, err := e.m["n3"].TryAcquireSemaphore(context.Background(), "wide", slots, lockmgr.TTL(testTTL))
		if !errors.Is(err, lockmgr.ErrLocked) {
			t.Errorf("TryAcquireSemaphore of a full semaphore = %v, want ErrLocked", err)
		}
		got := e.acquireSemAsync(t, "n2", "wide", slots)
		time.Sleep(time.Second)
		notYet(t, got, "while full")
		released := time.Now()
		const freed = 5
		e.rec.release(t, holds[freed], locks[freed])
		l := received(t, got)
		if d := time.Since(released); d > 3*testTTL/2 {
			t.Errorf("waiter granted %v after the release, want about a TTL at most", d)
		}
		if l.Slot() != freed {
			t.Errorf("waiter got slot %d, want %d", l.Slot(), freed)
		}
		e.releaseAllBut(t, locks, holds, freed, l)
	})
}

// A holder whose node crashes loses its slot once its lease ran out,
// and a waiter takes that slot.
func TestSimSemaphoreHolderCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		const slots = 2
		crashedL, _ := e.acquireSem(t, "n3", "crash", slots)
		other, oh := e.acquireSem(t, "n4", "crash", slots)
		got := e.acquireSemAsync(t, "n2", "crash", slots)
		time.Sleep(200 * time.Millisecond)
		notYet(t, got, "before the crash")
		crashed := time.Now()
		e.c.Crash("n3")
		l := received(t, got)
		d := time.Since(crashed)
		t.Logf("granted %v after the holder crashed", d)
		if d < testTTL {
			t.Errorf("granted %v after the crash, before the lease could end", d)
		}
		if d > 5*time.Second {
			t.Errorf("granted %v after the crash, want within detection and 1.5 TTL", d)
		}
		if l.Slot() != crashedL.Slot() {
			t.Errorf("waiter got slot %d, want the crashed holder's %d", l.Slot(), crashedL.Slot())
		}
		if !other.Valid() {
			t.Error("the other holder lost its slot")
		}
		e.rec.release(t, e.rec.last(), l)
		e.rec.release(t, oh, other)
	})
}

// A waiter that gives up (Wait, ctx) leaves nothing behind: the slot
// freed next goes to the next caller.
func TestSimSemaphoreGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const slots = 2
		locks, holds := e.fillSem(t, "g", slots)
		ctx := context.Background()
		begin := time.Now()
		_, err := e.m["n3"].AcquireSemaphore(ctx, "g", slots, lockmgr.TTL(testTTL), lockmgr.Wait(time.Second))
		if !errors.Is(err, lockmgr.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("AcquireSemaphore with Wait = %v, want ErrTimeout", err)
		}
		if d := time.Since(begin); d < time.Second || d > 1100*time.Millisecond {
			t.Errorf("Wait(1s) returned after %v", d)
		}
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error)
		go func() {
			_, err := e.m["n2"].AcquireSemaphore(cctx, "g", slots, lockmgr.TTL(testTTL))
			errc <- err
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("canceled AcquireSemaphore = %v, want context.Canceled", err)
		}
		time.Sleep(testTTL) // the given-up waiters are dropped
		e.rec.release(t, holds[1], locks[1])
		l, err := e.m["n1"].TryAcquireSemaphore(ctx, "g", slots, lockmgr.TTL(testTTL))
		if err != nil {
			t.Fatalf("TryAcquireSemaphore with a slot free: %v", err)
		}
		h := e.rec.add("n1", l)
		if l.Slot() != 1 {
			t.Errorf("got slot %d, want the free slot 1", l.Slot())
		}
		e.rec.release(t, h, l)
		e.rec.release(t, holds[0], locks[0])
	})
}

// A waiter queued for two slots that free at once may be granted both:
// it keeps one and frees the other at once, for the next caller.
func TestSimSemaphoreTwoFreeAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const slots = 2
		locks, holds := e.fillSem(t, "two", slots)
		got := e.acquireSemAsync(t, "n3", "two", slots)
		time.Sleep(time.Second)
		notYet(t, got, "while full")
		for i := range slots {
			go e.rec.release(t, holds[i], locks[i])
		}
		l := received(t, got)
		released := time.Now()
		deadline := released.Add(testTTL / 2)
		for {
			l2, err := e.m["n1"].TryAcquireSemaphore(context.Background(), "two", slots, lockmgr.TTL(testTTL))
			if err == nil {
				t.Logf("the other slot granted %v after the waiter's", time.Since(released))
				if l2.Slot() == l.Slot() {
					t.Errorf("both got slot %d", l.Slot())
				}
				e.rec.release(t, e.rec.add("n1", l2), l2)
				break
			}
			if !errors.Is(err, lockmgr.ErrLocked) || time.Now().After(deadline) {
				t.Fatalf("TryAcquireSemaphore %v after the waiter's grant: %v; want the other slot free", time.Since(released), err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		e.rec.release(t, e.rec.last(), l)
	})
}

// Cut off from a majority of the voters, a semaphore is refused with
// ErrNoQuorum, as a lock is, while the majority's side goes on.
func TestSimSemaphoreNoQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		const slots = 3
		e.c.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"})
		time.Sleep(2 * time.Second) // each side sees the other gone
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		begin := time.Now()
		_, err := e.m["n2"].TryAcquireSemaphore(ctx, "q", slots, lockmgr.TTL(testTTL))
		if !errors.Is(err, lockmgr.ErrNoQuorum) {
			t.Errorf("minority TryAcquireSemaphore = %v, want ErrNoQuorum", err)
		}
		t.Logf("TryAcquireSemaphore refused after %v", time.Since(begin))
		begin = time.Now()
		_, err = e.m["n1"].AcquireSemaphore(ctx, "q", slots, lockmgr.TTL(testTTL))
		if !errors.Is(err, lockmgr.ErrNoQuorum) {
			t.Errorf("minority AcquireSemaphore = %v, want ErrNoQuorum", err)
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("minority AcquireSemaphore refused after %v, want about 2 s", d)
		}
		l, h := e.acquireSem(t, "n4", "q", slots)
		e.rec.release(t, h, l)
		e.c.Heal()
	})
}
