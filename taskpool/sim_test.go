package taskpool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/internal/oneproc"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/sim/simtest"
	"github.com/gossipsync/gossipsync/taskpool"
)

func TestMain(m *testing.M) {
	oneproc.UnderRace()
	goleak.VerifyTestMain(m)
}

// env is a simulated Local cluster with one Pool per node.
type env struct {
	c *sim.Cluster
	p map[string]*taskpool.Pool
}

func startEnv(t *testing.T, nodes int, opts ...taskpool.Option) *env {
	t.Helper()
	c := simtest.Start(t, nodes, 1)
	e := &env{c: c, p: map[string]*taskpool.Pool{}}
	for _, n := range c.Nodes() {
		p, err := taskpool.New(n, opts...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		e.p[n.Name()] = p
	}
	t.Cleanup(func() { // before simtest's: the pools close before the nodes
		for _, p := range e.p {
			p.Close()
		}
	})
	return e
}

// register registers h as name on the given nodes and waits until every
// pool's node sees them in the tags.
func (e *env) register(t *testing.T, name string, h taskpool.Handler, nodes ...string) {
	t.Helper()
	for _, n := range nodes {
		if err := e.p[n].Register(name, h); err != nil {
			t.Fatalf("%s Register(%q): %v", n, name, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // tags gossip in well under this
}

func echo(_ context.Context, b []byte) ([]byte, error) { return b, nil }

func TestSimFunc(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1, taskpool.Concurrency(2))
		p := e.p["n1"]
		var ran atomic.Int32
		if _, err := p.Run(context.Background(), taskpool.Command{Name: "f", Func: func() error { ran.Add(1); return nil }}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		boom := errors.New("boom")
		_, err := p.Run(context.Background(), taskpool.Command{Name: "f", Retries: 2, Func: func() error { ran.Add(1); return boom }})
		if !errors.Is(err, boom) {
			t.Errorf("Run of a failing Func = %v, want boom", err)
		}
		if got := ran.Load(); got != 4 {
			t.Errorf("Func ran %d times, want 4", got)
		}
		_, err = p.Run(context.Background(), taskpool.Command{Name: "f", Func: func() error { panic("oops") }})
		if err == nil {
			t.Errorf("Run of a panicking Func = nil, want an error")
		}
	})
}

func TestSimEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		e.register(t, "echo", echo, "n2", "n3")
		for _, n := range []string{"n1", "n2", "n3"} {
			got, err := e.p[n].Run(context.Background(), taskpool.Command{Name: "echo", Payload: []byte("hi " + n)})
			if err != nil || string(got) != "hi "+n {
				t.Errorf("%s Run = %q, %v; want %q", n, got, err, "hi "+n)
			}
		}
		_, err := e.p["n1"].Run(context.Background(), taskpool.Command{Name: "nobody"})
		if !errors.Is(err, taskpool.ErrNoWorker) {
			t.Errorf("Run of an unregistered name = %v, want ErrNoWorker", err)
		}
	})
}

// TestSimPlacement floods 3 workers of pool size 2 from every node and
// counts concurrency inside the handler.
func TestSimPlacement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 2
		e := startEnv(t, 3, taskpool.Concurrency(size))
		var mu sync.Mutex
		now, peak, count := map[string]int{}, map[string]int{}, map[string]int{}
		for _, n := range []string{"n1", "n2", "n3"} {
			e.p[n].Register("work", func(ctx context.Context, _ []byte) ([]byte, error) {
				mu.Lock()
				now[n]++
				peak[n] = max(peak[n], now[n])
				count[n]++
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
				mu.Lock()
				now[n]--
				mu.Unlock()
				return nil, nil
			})
		}
		time.Sleep(500 * time.Millisecond)
		var wg sync.WaitGroup
		for i := range 300 {
			wg.Go(func() {
				n := fmt.Sprintf("n%d", i%3+1)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := e.p[n].Run(ctx, taskpool.Command{Name: "work"}); err != nil {
					t.Errorf("Run %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		t.Logf("tasks per worker %v, peak concurrency %v", count, peak)
		for n, c := range count {
			if c < 50 {
				t.Errorf("%s ran %d of 300 tasks, want an even spread", n, c)
			}
			if peak[n] > size {
				t.Errorf("%s ran %d at once, pool size %d", n, peak[n], size)
			}
		}
		if len(count) != 3 {
			t.Errorf("tasks ran on %d workers, want 3", len(count))
		}
		if s := e.p["n1"].Stats(); len(s.Loads) == 0 {
			t.Errorf("Stats().Loads empty after dispatching")
		}
	})
}

// TestSimWorkerCrash crashes the worker mid-task: the task runs again on
// another (T1).
func TestSimWorkerCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		started := make(chan string, 10)
		for _, n := range []string{"n2", "n3"} {
			e.p[n].Register("slow", func(ctx context.Context, b []byte) ([]byte, error) {
				started <- n
				select {
				case <-time.After(2 * time.Second):
					return []byte(n), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
		}
		time.Sleep(500 * time.Millisecond)
		res := make(chan error, 1)
		var got []byte
		go func() {
			var err error
			got, err = e.p["n1"].Run(context.Background(), taskpool.Command{Name: "slow", Timeout: 10 * time.Second})
			res <- err
		}()
		first := <-started
		time.Sleep(100 * time.Millisecond)
		crashed := time.Now()
		e.c.Crash(first)
		if err := <-res; err != nil {
			t.Fatalf("Run after the worker crashed: %v", err)
		}
		t.Logf("result from %s %v after %s crashed", got, time.Since(crashed), first)
		if string(got) == first {
			t.Errorf("result from the crashed worker %s", first)
		}
	})
}

// TestSimPartition cuts the submitter off from the worker running its task.
func TestSimPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 5)
		started := make(chan string, 10)
		for _, n := range []string{"n2", "n3", "n4", "n5"} {
			e.p[n].Register("slow", func(ctx context.Context, b []byte) ([]byte, error) {
				started <- n
				select {
				case <-time.After(time.Second):
					return []byte(n), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			})
		}
		time.Sleep(500 * time.Millisecond)
		res := make(chan error, 1)
		var got []byte
		go func() {
			var err error
			got, err = e.p["n1"].Run(context.Background(), taskpool.Command{Name: "slow", Timeout: 5 * time.Second, Retries: 1})
			res <- err
		}()
		first := <-started
		var others []string
		for _, n := range []string{"n1", "n2", "n3", "n4", "n5"} {
			if n != first {
				others = append(others, n)
			}
		}
		e.c.Partition([]string{first}, others)
		if err := <-res; err != nil {
			t.Fatalf("Run across a partition: %v", err)
		}
		if string(got) == first {
			t.Errorf("result from the cut-off worker %s", first)
		}
		e.c.Heal()
	})
}
