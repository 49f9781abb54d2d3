package taskpool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
	"github.com/gossipsync/gossipsync/taskpool"
)

// loopback is a cluster of nodes on 127.0.0.1 with one Pool each.
type loopback struct {
	nodes []*cluster.Node
	p     []*taskpool.Pool
}

// startLoopback starts n nodes on free loopback ports, joins them to the
// first, waits until every node sees all n, then gives each a Pool.
// Cleanup closes the Pools, then the nodes.
func startLoopback(tb testing.TB, n int, opts ...taskpool.Option) *loopback {
	tb.Helper()
	lb := &loopback{nodes: clustertest.Start(tb, n, func(int) cluster.Config {
		return cluster.Config{ExpectedSize: n}
	})}
	tb.Cleanup(lb.close) // registered after the nodes', so it runs first
	for _, node := range lb.nodes {
		p, err := taskpool.New(node, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		lb.p = append(lb.p, p)
	}
	return lb
}

// close closes the Pools; clustertest closes the nodes after.
func (lb *loopback) close() {
	for _, p := range lb.p {
		p.Close()
	}
}

// register registers h on the given pools and waits until every node
// sees all of them as workers for name.
func (lb *loopback) register(tb testing.TB, name string, h taskpool.Handler, idx ...int) {
	tb.Helper()
	for _, i := range idx {
		if err := lb.p[i].Register(name, h); err != nil {
			tb.Fatalf("Register: %v", err)
		}
	}
	waitFor(tb, 10*time.Second, func() error {
		for _, node := range lb.nodes {
			got := 0
			for _, m := range node.Members() {
				if slices.Contains(splitTag(m.Tags["_tp"]), name) {
					got++
				}
			}
			if got != len(idx) {
				return fmt.Errorf("%s sees %d workers for %s, want %d", node.Name(), got, name, len(idx))
			}
		}
		return nil
	})
}

func splitTag(s string) []string {
	var out []string
	for s != "" {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}

func waitFor(tb testing.TB, d time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoopbackBehaviour(t *testing.T) {
	lb := startLoopback(t, 3, taskpool.Concurrency(2), taskpool.Timeout(5*time.Second))
	ctx := context.Background()
	var fails atomic.Int32
	var bodies atomic.Int32
	canceled := make(chan struct{}, 1)
	lb.register(t, "echo", echo, 1, 2)
	lb.register(t, "fail", func(context.Context, []byte) ([]byte, error) {
		return nil, fmt.Errorf("fail %d", fails.Add(1))
	}, 1, 2)
	lb.register(t, "panic", func(context.Context, []byte) ([]byte, error) { panic("oops") }, 1, 2)
	lb.register(t, "sleep", func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		select {
		case canceled <- struct{}{}:
		default:
		}
		return nil, ctx.Err()
	}, 1, 2)
	lb.register(t, "once", func(context.Context, []byte) ([]byte, error) {
		n := bodies.Add(1)
		time.Sleep(200 * time.Millisecond)
		return []byte(fmt.Sprint(n)), nil
	}, 1, 2)

	t.Run("echo", func(t *testing.T) {
		got, err := lb.p[0].Run(ctx, taskpool.Command{Name: "echo", Payload: []byte("hi")})
		if err != nil || string(got) != "hi" {
			t.Errorf("Run = %q, %v; want hi", got, err)
		}
	})
	t.Run("no worker", func(t *testing.T) {
		if _, err := lb.p[0].Run(ctx, taskpool.Command{Name: "nobody"}); !errors.Is(err, taskpool.ErrNoWorker) {
			t.Errorf("Run = %v, want ErrNoWorker", err)
		}
	})
	t.Run("handler error retried", func(t *testing.T) {
		_, err := lb.p[0].Run(ctx, taskpool.Command{Name: "fail", Retries: 2})
		var te *taskpool.TaskError
		if !errors.As(err, &te) || te.Message != "fail 3" {
			t.Errorf("Run = %v, want the third failure", err)
		}
		if got := lb.p[0].Stats().Retried; got < 2 {
			t.Errorf("Stats().Retried = %d, want >= 2", got)
		}
	})
	t.Run("panic", func(t *testing.T) {
		if _, err := lb.p[0].Run(ctx, taskpool.Command{Name: "panic"}); err == nil {
			t.Errorf("Run of a panicking handler = nil, want an error")
		}
		if _, err := lb.p[0].Run(ctx, taskpool.Command{Name: "echo"}); err != nil {
			t.Errorf("Run after a panic: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		begin := time.Now()
		_, err := lb.p[0].Run(ctx, taskpool.Command{Name: "sleep", Timeout: 200 * time.Millisecond})
		if !errors.Is(err, taskpool.ErrTimeout) {
			t.Errorf("Run = %v, want ErrTimeout", err)
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("timed out after %v, want about 200ms", d)
		}
	})
	t.Run("cancel reaches the handler", func(t *testing.T) {
		for len(canceled) > 0 {
			<-canceled
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		_, err := lb.p[0].Run(cctx, taskpool.Command{Name: "sleep"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want Canceled", err)
		}
		select {
		case <-canceled:
		case <-time.After(2 * time.Second):
			t.Errorf("the handler's ctx was not canceled")
		}
	})
	t.Run("idempotency", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]string, 6)
		for i := range results {
			wg.Go(func() {
				got, err := lb.p[i%3].Run(ctx, taskpool.Command{Name: "once", ID: "job-1"})
				if err != nil {
					t.Errorf("Run %d: %v", i, err)
				}
				results[i] = string(got)
			})
		}
		wg.Wait()
		if n := bodies.Load(); n != 1 {
			t.Errorf("body ran %d times, want 1", n)
		}
		for _, r := range results {
			if r != results[0] {
				t.Errorf("results %v differ", results)
				break
			}
		}
	})
	t.Run("submit and wait", func(t *testing.T) {
		id, err := lb.p[0].Submit(ctx, taskpool.Command{Name: "echo", Payload: []byte("s")})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := lb.p[0].Wait(ctx, id); err != nil || string(got) != "s" {
			t.Errorf("Wait = %q, %v; want s", got, err)
		}
		if _, err := lb.p[0].Wait(ctx, id); !errors.Is(err, taskpool.ErrUnknownTask) {
			t.Errorf("second Wait = %v, want ErrUnknownTask", err)
		}
	})
}

func TestLoopbackClose(t *testing.T) {
	lb := startLoopback(t, 2, taskpool.Concurrency(2), taskpool.Timeout(time.Second))
	lb.register(t, "echo", echo, 1)
	if err := lb.p[1].Close(); err != nil {
		t.Fatal(err)
	}
	if err := lb.p[1].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := lb.p[1].Run(context.Background(), taskpool.Command{Name: "echo"}); !errors.Is(err, taskpool.ErrClosed) {
		t.Errorf("Run on a closed pool = %v, want ErrClosed", err)
	}
	waitFor(t, 5*time.Second, func() error {
		_, err := lb.p[0].Run(context.Background(), taskpool.Command{Name: "echo"})
		if !errors.Is(err, taskpool.ErrNoWorker) {
			return fmt.Errorf("Run to a closed worker = %v, want ErrNoWorker once the tag is gone", err)
		}
		return nil
	})
}

func TestLoopbackSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 6 s")
	}
	lb := startLoopback(t, 3)
	const every = 300 * time.Millisecond
	var mu sync.Mutex
	ticks := map[int64]int{}
	var cancels []func()
	for i := range lb.p {
		cancels = append(cancels, mustSchedule(t, lb.p[i], "s", every, taskpool.Command{Name: "tick", Func: func() error {
			mu.Lock()
			ticks[time.Now().UnixNano()/int64(every)]++
			mu.Unlock()
			return nil
		}}))
	}
	// Run until 12 distinct ticks have run (about 4 s), or fail at 20 s.
	waitFor(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(ticks) < 12 {
			return fmt.Errorf("%d ticks ran, want 12", len(ticks))
		}
		return nil
	})
	for _, c := range cancels {
		c()
	}
	mu.Lock()
	defer mu.Unlock()
	var ks []int64
	for k, n := range ticks {
		ks = append(ks, k)
		if n > 1 {
			t.Errorf("tick %d ran %d times", k, n)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	if len(ks) < 10 {
		t.Fatalf("%d ticks ran, want at least 10", len(ks))
	}
	for i := 1; i < len(ks); i++ {
		if ks[i] != ks[i-1]+1 {
			t.Errorf("ticks %d..%d skipped", ks[i-1]+1, ks[i]-1)
		}
	}
}

// An idempotency id is scoped to its command: the same id on two
// commands runs both.
func TestLoopbackIDScopedToCommand(t *testing.T) {
	lb := startLoopback(t, 2, taskpool.Concurrency(2))
	slow := func(s string) taskpool.Handler {
		return func(context.Context, []byte) ([]byte, error) {
			time.Sleep(200 * time.Millisecond) // both Runs overlap
			return []byte(s), nil
		}
	}
	lb.register(t, "lower", slow("lower"), 1)
	lb.register(t, "upper", slow("upper"), 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]string{}
	for _, name := range []string{"lower", "upper"} {
		wg.Go(func() {
			res, err := lb.p[0].Run(context.Background(), taskpool.Command{Name: name, ID: "x"})
			if err != nil {
				t.Errorf("Run %s: %v", name, err)
			}
			mu.Lock()
			got[name] = string(res)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, name := range []string{"lower", "upper"} {
		if got[name] != name {
			t.Errorf("Run(%s, ID x) = %q, want %q", name, got[name], name)
		}
	}
}
