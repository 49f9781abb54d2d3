package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// semOpts are the options of every semaphore acquisition in these tests.
func semOpts() []lockmgr.AcquireOption {
	return []lockmgr.AcquireOption{lockmgr.TTL(testTTL), lockmgr.Wait(30 * time.Second)}
}

// acquireSem takes a slot of sem on node, checks what the Lock says of
// itself and records the grant (the recorder checks L1-L3 per slot).
func (e *env) acquireSem(t *testing.T, node, sem string, slots int) (*lockmgr.Lock, *hold) {
	t.Helper()
	l, err := e.m[node].AcquireSemaphore(context.Background(), sem, slots, semOpts()...)
	if err != nil {
		t.Fatalf("%s AcquireSemaphore(%q, %d): %v", node, sem, slots, err)
	}
	if err := checkSlotLock(l, sem, slots); err != nil {
		t.Fatal(err)
	}
	return l, e.rec.add(node, l)
}

func checkSlotLock(l *lockmgr.Lock, sem string, slots int) error {
	if l.Semaphore() != sem || l.Slot() < 0 || l.Slot() >= slots || l.ID() != lockmgr.SlotID(sem, l.Slot()) {
		return fmt.Errorf("lock %q: semaphore %q slot %d, want semaphore %q, a slot below %d, and its SlotID",
			l.ID(), l.Semaphore(), l.Slot(), sem, slots)
	}
	return nil
}

// acquireSemAsync is acquireSem in a goroutine, sending the lock, or nil
// after reporting the error (see acquireAsync).
func (e *env) acquireSemAsync(t *testing.T, node, sem string, slots int) <-chan *lockmgr.Lock {
	got := make(chan *lockmgr.Lock, 1)
	go func() {
		l, err := e.m[node].AcquireSemaphore(context.Background(), sem, slots, semOpts()...)
		if err == nil {
			err = checkSlotLock(l, sem, slots)
		}
		if err != nil {
			t.Errorf("%s AcquireSemaphore(%q, %d): %v", node, sem, slots, err)
			got <- nil
			return
		}
		e.rec.add(node, l)
		got <- l
	}()
	return got
}

func TestSemaphoreBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1)
		m := e.m["n1"]
		ttl := lockmgr.TTL(testTTL)
		tests := []struct {
			name  string
			id    string
			slots int
			opts  []lockmgr.AcquireOption
		}{
			{"zero slots", "s", 0, []lockmgr.AcquireOption{ttl}},
			{"negative slots", "s", -1, []lockmgr.AcquireOption{ttl}},
			{"too many slots", "s", lockmgr.MaxSlots + 1, []lockmgr.AcquireOption{ttl}},
			{"empty id", "", 2, []lockmgr.AcquireOption{ttl}},
			{"long id", strings.Repeat("x", 257), 2, []lockmgr.AcquireOption{ttl}},
			{"ttl above lock delay", "s", 2, nil},
			{"zero wait", "s", 2, []lockmgr.AcquireOption{ttl, lockmgr.Wait(0)}},
		}
		ctx := context.Background()
		for _, tt := range tests {
			if l, err := m.AcquireSemaphore(ctx, tt.id, tt.slots, tt.opts...); err == nil {
				t.Errorf("%s: AcquireSemaphore succeeded", tt.name)
				l.Release(ctx)
			}
			if l, err := m.TryAcquireSemaphore(ctx, tt.id, tt.slots, tt.opts...); err == nil {
				t.Errorf("%s: TryAcquireSemaphore succeeded", tt.name)
				l.Release(ctx)
			}
		}
		// A slot's id is no plain lock's.
		for _, id := range []string{lockmgr.SlotID("s", 0), "\x00sem/"} {
			if l, err := m.Acquire(ctx, id, ttl); err == nil {
				t.Errorf("Acquire(%q) of the reserved form succeeded", id)
				l.Release(ctx)
			}
			if l, err := m.TryAcquire(ctx, id, ttl); err == nil {
				t.Errorf("TryAcquire(%q) of the reserved form succeeded", id)
				l.Release(ctx)
			}
		}
	})
}

// One slot is a lock on slot 0, apart from the plain lock of the same id.
func TestSimSemaphoreOneSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		ctx := context.Background()
		l, h := e.acquireSem(t, "n1", "one", 1)
		if l.Slot() != 0 {
			t.Errorf("the only slot is %d, want 0", l.Slot())
		}
		if _, err := e.m["n2"].TryAcquireSemaphore(ctx, "one", 1, lockmgr.TTL(testTTL)); !errors.Is(err, lockmgr.ErrLocked) {
			t.Errorf("TryAcquireSemaphore of a full semaphore = %v, want ErrLocked", err)
		}
		plain, ph := e.acquire(t, "n2", "one")
		if plain.Slot() != -1 || plain.Semaphore() != "" {
			t.Errorf("plain lock: slot %d, semaphore %q; want -1 and \"\"", plain.Slot(), plain.Semaphore())
		}
		e.rec.release(t, ph, plain)
		got := e.acquireSemAsync(t, "n3", "one", 1)
		time.Sleep(time.Second)
		select {
		case <-got:
			t.Fatal("a second holder got the only slot")
		default:
		}
		e.rec.release(t, h, l)
		l2 := received(t, got)
		if l2.Token() <= l.Token() {
			t.Errorf("token %d after %d, want it higher", l2.Token(), l.Token())
		}
		e.rec.release(t, e.rec.last(), l2)
	})
}

// window is one holder's time inside the semaphore: from Acquire's
// return to the earlier of its Release and its lease's end.
type window struct{ start, end time.Time }

// maxOverlap returns the most windows open at one instant; a window
// that ends when another starts does not overlap it.
func maxOverlap(ws []window) int {
	type edge struct {
		t     time.Time
		delta int
	}
	var es []edge
	for _, w := range ws {
		es = append(es, edge{w.start, 1}, edge{w.end, -1})
	}
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return a.delta - b.delta // ends first
	})
	n, most := 0, 0
	for _, e := range es {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// Six contenders on three nodes share three slots: never more than
// three hold at once (a shared counter, and the lease windows), all
// three are used together, and per slot every grant's token is unique
// and above the one before (also checked by the recorder at cleanup).
func TestSimSemaphoreContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		const sem, slots, rounds = "pool", 3, 4
		var mu sync.Mutex // protects inside, most, windows, grants
		inside, most := 0, 0
		var windows []window
		grants := map[int][]*hold{}
		var wg sync.WaitGroup
		for c := range 6 {
			node := fmt.Sprintf("n%d", c%3+1)
			wg.Go(func() {
				for r := range rounds {
					l, err := e.m[node].AcquireSemaphore(context.Background(), sem, slots, semOpts()...)
					if err == nil {
						err = checkSlotLock(l, sem, slots)
					}
					if err != nil {
						t.Errorf("contender %d round %d: %v", c, r, err)
						return
					}
					h := e.rec.add(node, l)
					mu.Lock()
					inside++
					most = max(most, inside)
					grants[l.Slot()] = append(grants[l.Slot()], h)
					mu.Unlock()
					time.Sleep(time.Duration(50+25*c) * time.Millisecond)
					if !l.Valid() {
						t.Errorf("contender %d lost slot %d while holding it", c, l.Slot())
					}
					end := time.Now()
					if d := l.Deadline(); d.Before(end) {
						end = d
					}
					mu.Lock()
					inside--
					windows = append(windows, window{h.Start, end})
					mu.Unlock()
					e.rec.release(t, h, l)
					time.Sleep(time.Duration(10*r) * time.Millisecond)
				}
			})
		}
		wg.Wait()
		if most != slots {
			t.Errorf("at most %d held at once, want exactly %d", most, slots)
		}
		if got := maxOverlap(windows); got > slots {
			t.Errorf("%d lease windows overlap, want at most %d", got, slots)
		}
		if len(grants) != slots {
			t.Errorf("slots used: %d, want %d", len(grants), slots)
		}
		seen := map[uint64]bool{}
		for slot, hs := range grants {
			for i, h := range hs { // in grant order
				if seen[h.Token] {
					t.Errorf("slot %d: token %d granted twice", slot, h.Token)
				}
				seen[h.Token] = true
				if i > 0 && h.Token <= hs[i-1].Token {
					t.Errorf("slot %d: token %d after %d", slot, h.Token, hs[i-1].Token)
				}
			}
		}
		if len(seen) != 6*rounds {
			t.Errorf("%d grants, want %d", len(seen), 6*rounds)
		}
	})
}
