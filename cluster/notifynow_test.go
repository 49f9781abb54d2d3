package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// NotifyNow sends nothing while no connection is open (nor to the
// node's own name), and once one is, delivers in order with Notify's
// notifications.
func TestNotifyNow(t *testing.T) {
	a, b := rpcPair(t, testKey)
	var mu sync.Mutex
	var got []int
	HandleFunc(b, "seq", func(_ context.Context, _ string, r seqReq) (struct{}, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.N)
		return struct{}{}, nil
	})
	if a.NotifyNow(a.Name(), "seq", seqReq{-1}) {
		t.Error("NotifyNow to the node's own name sent")
	}
	a.dropConns(b.Name())
	b.dropConns(a.Name())
	if a.NotifyNow(b.Name(), "seq", seqReq{-2}) {
		t.Error("NotifyNow sent without an open connection")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Notify(ctx, b.Name(), "seq", seqReq{0}); err != nil { // dials
		t.Fatal(err)
	}
	const n = 100
	for i := 1; i < n; i++ {
		if i%2 == 0 {
			if !a.NotifyNow(b.Name(), "seq", seqReq{i}) {
				t.Fatalf("NotifyNow %d on an open, idle connection did not send", i)
			}
		} else if err := a.Notify(ctx, b.Name(), "seq", seqReq{i}); err != nil {
			t.Fatal(err)
		}
	}
	waitInOrder(t, &mu, &got, n)
}
