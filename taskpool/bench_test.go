package taskpool_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/taskpool"
)

// busiest returns the share of executions, in percent, that ran on the
// busiest pool.
func busiest(pools []*taskpool.Pool) float64 {
	var total, most uint64
	for _, p := range pools {
		d := p.Stats().Done
		total += d
		most = max(most, d)
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(most) / float64(total)
}

// BenchmarkNoop runs no-op tasks on 3 loopback nodes, with 64 concurrent
// submitters per submitting node:
//   - from-one: n1 submits, all three nodes are workers (about a third of
//     the tasks stay on n1);
//   - from-all: every node submits, all three are workers;
//   - from-nonworker: n1 submits, only n2 and n3 are workers, so every
//     task crosses the network.
//
// It reports tasks/s, the latency of one Run (p50 and p99) and the share
// of the tasks that ran on the busiest worker (33 % is an even spread on
// three workers, 50 % on two).
func BenchmarkNoop(b *testing.B) {
	for _, tc := range []struct {
		name    string
		from    int   // submitters are nodes 0..from-1
		workers []int // nodes that register the command
	}{
		{"from-one", 1, []int{0, 1, 2}},
		{"from-all", 3, []int{0, 1, 2}},
		{"from-nonworker", 1, []int{1, 2}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			lb := startLoopback(b, 3, taskpool.Concurrency(64))
			lb.register(b, "noop", func(context.Context, []byte) ([]byte, error) { return nil, nil }, tc.workers...)
			const conc = 64
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			work := make(chan struct{}, b.N)
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			b.ResetTimer()
			begin := time.Now()
			var wg sync.WaitGroup
			for s := range conc * tc.from {
				p := lb.p[s%tc.from]
				wg.Go(func() {
					var mine []time.Duration
					for range work {
						t0 := time.Now()
						if _, err := p.Run(context.Background(), taskpool.Command{Name: "noop"}); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			el := time.Since(begin)
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/el.Seconds(), "tasks/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(busiest(lb.p), "busiest-%")
			}
		})
	}
}
