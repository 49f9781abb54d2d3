package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire"
)

type seqReq struct{ N int }

// TestNotifyOrderNoWait: notifications arrive in the order sent, Notify
// does not wait for the handler, and a failing handler leaves the
// connection serving.
func TestNotifyOrderNoWait(t *testing.T) {
	a, b := rpcPair(t, testKey)
	var mu sync.Mutex
	var got []int
	gate := make(chan struct{})
	HandleFunc(b, "seq", func(ctx context.Context, from string, r seqReq) (struct{}, error) {
		if r.N == 0 {
			<-gate // the first holds the loop until every Notify returned
		}
		mu.Lock()
		got = append(got, r.N)
		mu.Unlock()
		if r.N%7 == 0 {
			return struct{}{}, errTestSentinel
		}
		return struct{}{}, nil
	})
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		if err := a.Notify(ctx, b.Name(), "seq", seqReq{i}); err != nil {
			t.Fatalf("Notify %d: %v", i, err)
		}
	}
	close(gate)
	waitInOrder(t, &mu, &got, n)
	var r echoResp
	if err := a.Call(ctx, b.Name(), "echo", echoReq{"after"}, &r); err != nil || r.Text != "after" {
		t.Fatalf("Call after notifications = %+v, %v", r, err)
	}
}

// TestNotifyHandlerEndsWithConn: a notification handler waiting on its
// ctx is released when the sender closes, and both nodes close.
func TestNotifyHandlerEndsWithConn(t *testing.T) {
	a, b := rpcPair(t, nil)
	started, ended := make(chan struct{}), make(chan error, 1)
	HandleFunc(b, "block", func(ctx context.Context, from string, r seqReq) (struct{}, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return struct{}{}, ctx.Err()
	})
	if err := a.Notify(context.Background(), b.Name(), "block", seqReq{}); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}
	a.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("handler's ctx ended with %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler's ctx did not end when the sender closed")
	}
}

func TestNotifyErrors(t *testing.T) {
	a, b := rpcPair(t, nil)
	self := make(chan string, 1)
	HandleFunc(a, "self", func(ctx context.Context, from string, r seqReq) (struct{}, error) {
		self <- from
		return struct{}{}, nil
	})
	if err := a.Notify(context.Background(), a.Name(), "self", seqReq{}); err != nil {
		t.Fatalf("Notify to self: %v", err)
	}
	if from := <-self; from != a.Name() {
		t.Fatalf("self notification from %q", from)
	}
	if err := a.Notify(context.Background(), b.Name(), "no-such-method", seqReq{}); err != nil {
		t.Fatalf("Notify of an unknown method: %v (the receiver logs it; the sender cannot know)", err)
	}
	if err := a.Notify(context.Background(), "nobody", "echo", echoReq{}); err == nil {
		t.Fatal("Notify to an unknown node succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Notify(ctx, b.Name(), "echo", echoReq{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify with an ended ctx = %v, want Canceled", err)
	}
	a.Close()
	if err := a.Notify(context.Background(), b.Name(), "echo", echoReq{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Notify after Close = %v, want ErrClosed", err)
	}
}

// TestCancelZeroSparesNotices: a cancel frame for id 0 (which no call
// uses) must not end the ctx of the connection's notifications.
func TestCancelZeroSparesNotices(t *testing.T) {
	_, b := rpcPair(t, nil)
	got := make(chan error, 2)
	HandleFunc(b, "ctxcheck", func(ctx context.Context, from string, r seqReq) (struct{}, error) {
		got <- ctx.Err()
		return struct{}{}, nil
	})
	c := rawRPC(t, b)
	var out []byte
	out = append(out, frameBytes(t, &wire.Frame{Kind: wire.KindHello, Body: mustEncode(t, wire.Hello{Name: "raw", Addr: "127.0.0.1:1"})})...)
	out = append(out, frameBytes(t, &wire.Frame{Kind: wire.KindRequest, Method: "ctxcheck", Body: mustEncode(t, seqReq{1})})...)
	for i := range 2 {
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		// The second round's cancel comes after the loop handled a
		// notification, so the loop's ctx is registered by then.
		out = frameBytes(t, &wire.Frame{Kind: wire.KindCancel})
		out = append(out, frameBytes(t, &wire.Frame{Kind: wire.KindRequest, Method: "ctxcheck", Body: mustEncode(t, seqReq{2})})...)
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("notification %d ran with an ended ctx: %v", i+1, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("notification %d never handled", i+1)
		}
	}
}

// waitInOrder waits until n notifications were handled (got, under mu)
// and fails unless they were handled in the order sent: 0, 1, 2...
func waitInOrder(t *testing.T, mu *sync.Mutex, got *[]int, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "every notification handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(*got) == n
	})
	for i, v := range *got {
		if v != i {
			t.Fatalf("notification %d handled as the %d-th: order lost (%v...)", v, i, (*got)[:min(len(*got), 20)])
		}
	}
}
