package lockmgr_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

// The benchmarks run on real loopback sockets, 3 nodes (Local profile),
// one Manager each. Run them with
//
//	go test -run '^$' -bench . -benchtime 3s ./lockmgr

// benchCluster starts the cluster and waits out the acceptors' quiet
// period with one Acquire, outside the timer.
func benchCluster(b *testing.B) *loopback {
	lb := startLoopback(b, 3)
	if err := pair(lb.m[0], "warm-up"); err != nil {
		b.Fatal(err)
	}
	return lb
}

// pair is one Acquire+Release of id.
func pair(m *lockmgr.Manager, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := m.Acquire(ctx, id, lockmgr.TTL(lbTTL))
	if err != nil {
		return fmt.Errorf("acquire %s: %w", id, err)
	}
	if err := l.Release(ctx); err != nil {
		return fmt.Errorf("release %s token %d: %w", id, l.Token(), err)
	}
	return nil
}

// BenchmarkUncontended: Acquire+Release pairs on one id from one
// goroutine on n1; pairs/s and the pair's p50/p99 latency.
func BenchmarkUncontended(b *testing.B) {
	lb := benchCluster(b)
	var lat []time.Duration
	begin := time.Now()
	for b.Loop() {
		t0 := time.Now()
		if err := pair(lb.m[0], "one"); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(begin)
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "pairs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkManyIDs: 8 goroutines per node on 64 ids; pairs/s in total.
func BenchmarkManyIDs(b *testing.B) {
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	parallelPairs(b, ids, 8)
}

// BenchmarkContended: 8 goroutines per node on one id; pairs/s in total.
func BenchmarkContended(b *testing.B) {
	parallelPairs(b, []string{"hot"}, 8)
}

// parallelPairs runs b.N Acquire+Release pairs over perNode goroutines
// on each node, the i-th pair on ids[i%len(ids)], and reports pairs/s.
func parallelPairs(b *testing.B, ids []string, perNode int) {
	lb := benchCluster(b)
	var next atomic.Int64
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	for _, m := range lb.m {
		for range perNode {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					if err := pair(m, ids[i%int64(len(ids))]); err != nil {
						b.Error(err) // not Fatal: not the benchmark's goroutine
						return
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pairs/s")
}
