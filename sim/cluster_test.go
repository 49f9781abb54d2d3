package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// startBubbled starts a Local cluster inside the current synctest bubble
// and registers its teardown, which lets virtual time run on so that
// memberlist's in-flight probes finish before the bubble ends.
func startBubbled(t *testing.T, nodes int, key []byte) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: nodes, Seed: 1, SecretKey: key, Profile: cluster.Local})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		time.Sleep(10 * time.Second)
	})
	return c
}

// converge waits for Expected views, failing after within of virtual time.
func converge(t *testing.T, c *Cluster, within time.Duration, what string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	start := time.Now()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 5, []byte("0123456789abcdef"))
		c.Partition([]string{"n1", "n2", "n3"}, []string{"n4", "n5"})
		d := converge(t, c, 30*time.Second, "each side sees only itself")
		t.Logf("partition converged in %v (virtual)", d)
		for _, name := range []string{"n1", "n4"} {
			got := names(c.Node(name).Members())
			if want := c.Expected(name); !slices.Equal(got, want) {
				t.Fatalf("%s sees %v, want %v", name, got, want)
			}
		}
		c.Heal()
		d = converge(t, c, 10*time.Second, "all five see each other after heal")
		t.Logf("heal converged in %v (virtual)", d)
	})
}

func TestCrashAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 5, nil)
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events := c.Node("n1").Watch(wctx, 64).C
		c.Crash("n5")
		if c.Node("n5") != nil {
			t.Fatal("Node(n5) is not nil after Crash")
		}
		if e := nextEventAbout(t, events, "n5"); e.Type != cluster.EventFail {
			t.Fatalf("n1 saw %v for n5, want fail", e.Type)
		}
		d := converge(t, c, 10*time.Second, "n5 gone from every view")
		t.Logf("crash detected everywhere in %v (virtual)", d)
		ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelCtx()
		if _, err := c.Restart(ctx, "n5"); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if e := nextEventAbout(t, events, "n5"); e.Type != cluster.EventJoin {
			t.Fatalf("n1 saw %v for n5, want join", e.Type)
		}
		converge(t, c, 10*time.Second, "n5 back in every view")
	})
}

func TestLossAndDelayStillConverge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 5, nil)
		c.SetLoss(0.1)
		c.SetDelay(time.Millisecond, 5*time.Millisecond)
		c.Crash("n3")
		converge(t, c, 30*time.Second, "crash detected under 10% loss")
		c.SetLoss(0)
	})
}

func TestRPCAcrossPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 3, []byte("0123456789abcdef"))
		cluster.HandleFunc(c.Node("n3"), "ping", func(ctx context.Context, from string, _ struct{}) (string, error) {
			return "pong from n3", nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var got string
		if err := c.Node("n1").Call(ctx, "n3", "ping", struct{}{}, &got); err != nil || got != "pong from n3" {
			t.Fatalf("Call = %q, %v", got, err)
		}
		c.Partition([]string{"n1", "n2"}, []string{"n3"})
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		if err := c.Node("n1").Call(ctx2, "n3", "ping", struct{}{}, &got); err == nil {
			t.Fatal("Call across a partition succeeded")
		}
	})
}

func TestStartRejectsBadOptions(t *testing.T) {
	if _, err := Start(context.Background(), Options{Nodes: 0}); err == nil {
		t.Fatal("Start with 0 nodes succeeded")
	}
}

func names(ms []cluster.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func nextEventAbout(t *testing.T, events <-chan cluster.Event, name string) cluster.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Member.Name == name {
				return e
			}
		case <-timeout:
			t.Fatalf("no event about %s within 30s", name)
		}
	}
}

// TestFailedJoinStillStarts: a node whose join fails (ctx ended) still
// runs, with its start hooks, as a process would; the error names the
// operation.
func TestFailedJoinStillStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startBubbled(t, 3, nil)
		var started []string
		c.AddHooks(Hooks{OnStart: func(n *cluster.Node) { started = append(started, n.Name()) }})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := c.Add(ctx)
		if err == nil || n == nil || !strings.Contains(err.Error(), "sim: add n4: join") {
			t.Fatalf("Add with an ended ctx = %v, %v; want the node and an error naming the add", n, err)
		}
		if !slices.Equal(started, []string{"n4"}) {
			t.Fatalf("start hooks ran for %v, want [n4]", started)
		}
	})
}
