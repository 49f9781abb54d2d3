package raftgroup

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPropose measures proposals per second on three members in
// real time, on the in-memory network (messages cloned, as a transport
// would serialize them), 16-byte proposals into logSM.
//
//   - leader/1: one proposer on the leader, one proposal at a time
//     (latency: a round trip through three loops);
//   - leader/64, followers/64: 64 concurrent proposers on the leader, or
//     spread over the two followers (forwarded).
func BenchmarkPropose(b *testing.B) {
	for _, bc := range []struct {
		name      string
		proposers int
		followers bool
	}{
		{"leader/1", 1, false},
		{"leader/64", 64, false},
		{"followers/64", 64, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newBenchCluster(b)
			defer c.close()
			lead := c.waitLeader(c.ids(), 5*time.Second)
			targets := []*Group{c.groups[lead]}
			if bc.followers {
				targets = nil
				for _, id := range c.ids() {
					if id != lead {
						targets = append(targets, c.groups[id])
					}
				}
			}
			data := []byte("0123456789abcdef")
			var next atomic.Int64
			var failed atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range bc.proposers {
				g := targets[p%len(targets)]
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, _, err := g.Propose(context.Background(), data); err != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
			if n := failed.Load(); n > 0 {
				b.Logf("%d of %d proposals failed", n, b.N)
			}
		})
	}
}

// newBenchCluster starts three members in real time, each with a
// counter for its state machine (logSM's snapshots grow with the log).
func newBenchCluster(b *testing.B) *cluster {
	c := &cluster{t: b, net: newNetwork(), groups: map[uint64]*Group{}, sms: map[uint64]*logSM{}}
	for _, id := range []uint64{1, 2, 3} {
		c.tune = func(cfg *Config) { cfg.StateMachine = &counterSM{} }
		c.start(id, []uint64{1, 2, 3})
	}
	return c
}

// counterSM counts applied entries.
type counterSM struct{ n atomic.Uint64 }

func (s *counterSM) Apply(uint64, []byte) any { return s.n.Add(1) }

func (s *counterSM) Snapshot() ([]byte, error) { return binary.AppendUvarint(nil, s.n.Load()), nil }

func (s *counterSM) Restore(data []byte) error {
	n, k := binary.Uvarint(data)
	if k <= 0 {
		return errors.New("counterSM: bad snapshot")
	}
	s.n.Store(n)
	return nil
}
