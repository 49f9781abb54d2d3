package taskpool_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/taskpool"
)

// TestSimScheduleFailover crashes the schedule's leader mid-tick: no tick
// runs twice, and the only ticks skipped start within the failover bound
// after the crash. The package doc promises a failover shorter than the
// period skips nothing and a longer one skips the ticks without a
// leader; election's E4 bounds a failover by the voters' hold (1.25 TTL)
// plus one survey and one claim round, and the new leader first asks a
// majority for the last tick done: one more round. With Local's 1 s TTL
// the bound below, 1.25 TTL + 1 s for those rounds, is generous.
func TestSimScheduleFailover(t *testing.T) {
	const every = 500 * time.Millisecond
	bound := election.DefaultLeaseTTL(cluster.Local)*5/4 + time.Second
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		type run struct {
			tick int64
			node string
			at   time.Time
		}
		var mu sync.Mutex
		var runs []run
		crashed, crashedAt := "", time.Time{}
		var cancels []func()
		for name, p := range e.p {
			cancels = append(cancels, mustSchedule(t, p, "tick", every, taskpool.Command{Name: "tick", Func: func() error {
				mu.Lock()
				defer mu.Unlock()
				if name == crashed {
					return nil // a crashed process runs nothing
				}
				now := time.Now()
				runs = append(runs, run{now.UnixNano() / int64(every), name, now})
				return nil
			}}))
		}
		defer func() {
			for _, c := range cancels {
				c()
			}
		}()
		// Let a leader tick a while, then crash it 200 ms into a tick:
		// its "tick done" went out long before.
		time.Sleep(4 * time.Second)
		now := time.Now()
		time.Sleep(time.Until(time.Unix(0, (now.UnixNano()/int64(every)+1)*int64(every)).Add(200 * time.Millisecond)))
		mu.Lock()
		if len(runs) == 0 {
			mu.Unlock()
			t.Fatal("no tick ran in 4 s")
		}
		leader := runs[len(runs)-1].node
		crashed, crashedAt = leader, time.Now()
		mu.Unlock()
		e.c.Crash(leader)
		time.Sleep(6 * time.Second)

		mu.Lock()
		defer mu.Unlock()
		byTick := map[int64][]string{}
		var first, last int64
		for i, r := range runs {
			byTick[r.tick] = append(byTick[r.tick], r.node)
			if i == 0 {
				first, last = r.tick, r.tick
			}
			first, last = min(first, r.tick), max(last, r.tick)
		}
		crashTick := crashedAt.UnixNano() / int64(every)
		var after string
		for k := first; k <= last; k++ {
			nodes := byTick[k]
			if len(nodes) > 1 {
				t.Errorf("tick %d ran %d times: %v", k, len(nodes), nodes)
			}
			start := time.Unix(0, k*int64(every))
			if len(nodes) == 0 && (k <= crashTick || start.Sub(crashedAt) > bound) {
				t.Errorf("tick %d (starting %v after the crash) skipped outside the failover bound %v", k, start.Sub(crashedAt), bound)
			}
			if after == "" && k > crashTick && len(nodes) == 1 {
				after = nodes[0]
				t.Logf("leader %s crashed; tick %d ran on %s %v after the crash", leader, k, after, start.Sub(crashedAt))
			}
		}
		if after == "" || after == leader {
			t.Errorf("no tick ran after %s crashed (ticks %d-%d)", leader, first, last)
		}
		if want := crashedAt.Add(5 * time.Second); time.Unix(0, last*int64(every)).Before(want) {
			t.Errorf("last tick %d started before %v after the crash", last, want.Sub(crashedAt))
		}
	})
}
