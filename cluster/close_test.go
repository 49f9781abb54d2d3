package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// closeBound is how long Close may take here: generous for a loaded
// machine, and well under the 10 s that the test's stuck call would
// otherwise take.
const closeBound = 2 * time.Second

// TestCloseWaitsForCallUntil: the calls that CallUntil leaves running
// when it returns early belong to the node: Close ends them (even one
// still in its handshake) and waits for them, and CallAll on a closed
// node still gives one reply per node (ErrClosed). Issue 12: the calls ran
// on goroutines that nobody waited for; Close returned while one was
// still blocked in its handshake, up to the call's timeout (10 s here).
func TestCloseWaitsForCallUntil(t *testing.T) {
	a, b, g := gatedPair(t)
	c := newTestNode(t, "c", testKey)
	HandleFunc(c, "echo", func(ctx context.Context, from string, r echoReq) (echoResp, error) {
		return echoResp{From: from, Text: r.Text}, nil
	})
	if _, err := c.Join(context.Background(), b.Addr()); err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{a, b, c}
	waitFor(t, 10*time.Second, "all see each other", func() bool { return allSee(nodes, names(nodes...)) })
	if connTo(a, "c") != nil {
		t.Fatal("a has a connection to c already")
	}
	// a's dial to c stalls in the handshake: c's answer never arrives.
	letGo := g.holdReads()
	defer letGo()
	first := func(r []Reply[echoResp]) bool { return len(r) > 0 }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies := CallUntil(ctx, a, []string{"a", "c"}, "echo", echoReq{"x"}, first)
	if len(replies) != 1 || replies[0].Node != "a" || replies[0].Err != nil {
		t.Fatalf("CallUntil = %+v, want a's reply alone", replies)
	}
	g.waitBlocked(t)
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		a.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(closeBound):
		letGo()
		<-closed
		t.Fatalf("Close took %v, want under %v", time.Since(start), closeBound)
	}
	if n := g.blocked.Load(); n != 0 {
		t.Errorf("Close returned with the call to c still in its handshake (%d blocked)", n)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	replies = CallAll[echoResp](ctx2, a, []string{"a", "b", "c"}, "echo", echoReq{"y"})
	if len(replies) != 3 {
		t.Fatalf("CallAll on a closed node = %+v, want 3 replies", replies)
	}
	for _, r := range replies {
		if !errors.Is(r.Err, ErrClosed) {
			t.Errorf("CallAll on a closed node: %s: %v, want ErrClosed", r.Node, r.Err)
		}
	}
}
