package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// TestMillionIDsMemory locks and releases 1,000,000 distinct ids, once
// each, on a 3-node loopback cluster, and fails if the live heap grew by
// more than 8 MB: a lock that was released must leave nothing behind, on
// any node. It takes minutes, so it runs only with GOSSIPSYNC_LONG=1:
//
//	GOSSIPSYNC_LONG=1 go test -run TestMillionIDsMemory -v -timeout 60m ./lockmgr/
//
// TestIDsMemory runs the same check with 20,000 ids every time.
func TestMillionIDsMemory(t *testing.T) {
	if os.Getenv("GOSSIPSYNC_LONG") != "1" {
		t.Skip("1,000,000 lock/release pairs take minutes: set GOSSIPSYNC_LONG=1 to run (with -timeout 60m); TestIDsMemory runs the same check with 20,000 ids")
	}
	idsMemory(t, 1_000_000, 8<<20)
}

// TestIDsMemory is TestMillionIDsMemory with 20,000 ids and a 4 MB limit.
func TestIDsMemory(t *testing.T) {
	idsMemory(t, 20_000, 4<<20)
}

// memWorkers is how many goroutines run the pairs, spread over the
// nodes: one after the other, 3-node loopback pairs run at about 1,000
// a second on two cores (BenchmarkScale), so a million would take over a
// quarter of an hour.
const memWorkers = 64

// memTTL is the TTL of the pairs' locks: long enough that a lock outlives
// its pair on a loaded machine (64 pairs at a time on two cores can take
// longer than the 400 ms of the loopback tests).
const memTTL = 5 * time.Second

// idsMemory locks and releases n distinct ids once each on a 3-node
// loopback cluster, memWorkers at a time, and fails if the live heap
// grew by more than limit bytes. The heap is measured (two GCs, then
// HeapAlloc) after a warm-up of the same work, which brings connections,
// pools and buffers to their working size, and again at the end, each
// time once the goroutines are back to their number after the warm-up
// (the renew loops and the handlers of the pairs have ended).
func idsMemory(t *testing.T, n int, limit uint64) {
	ms := memCluster(t)
	untilGranted(t, ms[0])
	if _, err := memPairs(ms, "warm-", 5000, nil); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	time.Sleep(time.Second)
	idle := runtime.NumGoroutine()
	before := liveHeap()

	begin := time.Now()
	progress := func(done int) {
		el := time.Since(begin)
		t.Logf("%7d pairs in %6v (%4.0f/s); live heap at the last GC %6.1f MB",
			done, el.Round(time.Second), float64(done)/el.Seconds(), float64(heapLiveAtLastGC())/(1<<20))
	}
	expired, err := memPairs(ms, "id-", n, progress)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(begin)
	left := settle(idle, 10*time.Second)
	if left > idle {
		var buf strings.Builder
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Logf("%d goroutines more than after the warm-up, 10 s after the last pair; the first stacks:\n%.6000s", left-idle, buf.String())
	}
	after := liveHeap()

	grew := int64(after) - int64(before)
	t.Logf("%d distinct ids locked and released in %v (%.0f pairs/s, %d goroutines on 3 nodes)",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), memWorkers)
	t.Logf("live heap: before %.2f MB, after %.2f MB, grew %+.2f MB (%+.1f bytes per id); goroutines %d idle, %d after",
		float64(before)/(1<<20), float64(after)/(1<<20), float64(grew)/(1<<20), float64(grew)/float64(n), idle, left)
	if grew > int64(limit) {
		t.Errorf("the live heap grew by %.2f MB for %d released ids, want at most %.0f MB: released locks leave state behind",
			float64(grew)/(1<<20), n, float64(limit)/(1<<20))
	}
	if expired > 0 {
		t.Errorf("%d of %d locks (TTL %v) expired before their Release, right after Acquire", expired, n, memTTL)
	}
}

// memCluster starts 3 nodes on loopback (ExpectedSize 3) with a Manager
// each, closed at cleanup before the nodes.
func memCluster(t *testing.T) []*lockmgr.Manager {
	t.Helper()
	nodes := clustertest.Start(t, 3, func(int) cluster.Config { return cluster.Config{ExpectedSize: 3} })
	var ms []*lockmgr.Manager
	t.Cleanup(func() { // registered after the nodes', so it runs first
		for _, m := range ms {
			m.Close()
		}
	})
	for _, node := range nodes {
		m, err := lockmgr.New(node, lockmgr.LockDelay(memTTL+memTTL/4))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// memPair is one Acquire+Release of id on m. expired: the lease ran out
// before the Release (ErrNotHeld).
func memPair(m *lockmgr.Manager, id string) (expired bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := m.Acquire(ctx, id, lockmgr.TTL(memTTL))
	if err != nil {
		return false, fmt.Errorf("acquire %s: %w", id, err)
	}
	if err := l.Release(ctx); errors.Is(err, lockmgr.ErrNotHeld) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("release %s token %d: %w", id, l.Token(), err)
	}
	return false, nil
}

// untilGranted waits, up to 30 s, for a first grant: the voter group is
// formed.
func untilGranted(t *testing.T, m *lockmgr.Manager) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		_, err := memPair(m, fmt.Sprintf("first-%d", i))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no grant 30 s after the start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memPairs runs n Acquire+Release pairs of the ids prefix0..prefix(n-1)
// on memWorkers goroutines, worker w on ms[w%len(ms)]. It returns how
// many leases expired before their Release, and the first other error
// (which stops it). progress, if not nil, is called after every 100,000th
// pair and the last, from one goroutine at a time.
func memPairs(ms []*lockmgr.Manager, prefix string, n int, progress func(done int)) (expired int64, err error) {
	var next, done, exp atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := range memWorkers {
		m := ms[w%len(ms)]
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				lost, err := memPair(m, prefix+strconv.FormatInt(i, 10))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				if lost {
					exp.Add(1)
				}
				if d := done.Add(1); progress != nil && (d%100_000 == 0 || d == int64(n)) {
					mu.Lock()
					progress(int(d))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return exp.Load(), first
}

// settle waits up to d until at most want goroutines run, and returns
// how many run then.
func settle(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// liveHeap returns the bytes of live heap objects after two GCs.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapLiveAtLastGC returns the live heap marked by the last GC, without
// running one.
func heapLiveAtLastGC() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
