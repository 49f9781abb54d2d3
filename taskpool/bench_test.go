package taskpool_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/taskpool"
)

// BenchmarkNoop runs no-op tasks on 3 loopback nodes, all workers, from
// one node or from all of them, with 64 concurrent submitters per node.
func BenchmarkNoop(b *testing.B) {
	for _, tc := range []struct {
		name string
		from int
	}{{"from-one", 1}, {"from-all", 3}} {
		b.Run(tc.name, func(b *testing.B) {
			lb := startLoopback(b, 3, taskpool.WithPool(64))
			lb.register(b, "noop", func(context.Context, []byte) ([]byte, error) { return nil, nil }, 0, 1, 2)
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
			}
		})
	}
}
