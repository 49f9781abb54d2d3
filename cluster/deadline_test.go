package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// lateBound is how long after its ctx ends a call may take to return in
// these tests: generous for a loaded machine under -race, and well under
// the 1 s that the old clean-up (a cancel frame written with its own 1 s
// timeout) kept the caller waiting on a stalled connection.
const lateBound = 400 * time.Millisecond

// ctxKinds are the two ways a caller's ctx ends.
var ctxKinds = []struct {
	name string
	// start returns the ctx and a function that ends it (for the
	// deadline kind, waiting for the deadline), returning when it ended.
	start func() (ctx context.Context, end func() time.Time, cleanup func())
	want  error
}{
	{"deadline", func() (context.Context, func() time.Time, func()) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		return ctx, func() time.Time { <-ctx.Done(); dl, _ := ctx.Deadline(); return dl }, cancel
	}, context.DeadlineExceeded},
	{"cancel", func() (context.Context, func() time.Time, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		return ctx, func() time.Time { cancel(); return time.Now() }, cancel
	}, context.Canceled},
}

// TestCallReturnsWhenItsCtxEndsOnAStalledConn: a call whose request went
// out, on a connection whose writes then stall (the peer stopped reading),
// returns ctx.Err() as soon as its ctx ends, and the cancel frame goes out
// once the connection moves again, without closing it. Issue 12: call
// wrote the cancel frame itself, with a 1 s timeout, so it returned about
// 1 s late, and the timed-out write closed the connection for every call
// on it.
func TestCallReturnsWhenItsCtxEndsOnAStalledConn(t *testing.T) {
	for _, kind := range ctxKinds {
		t.Run(kind.name, func(t *testing.T) {
			a, b, g := gatedPair(t)
			started, ended := make(chan struct{}), make(chan error, 1)
			returned := make(chan struct{}) // the handler's reply must not race the caller's ctx
			defer close(returned)
			b.Handle("hang", func(ctx context.Context, _ *Request) (any, error) {
				close(started)
				<-ctx.Done()
				ended <- ctx.Err()
				<-returned
				return nil, nil
			})
			before := connTo(a, "b")
			ctx, end, cleanup := kind.start()
			defer cleanup()
			errc := make(chan error, 1)
			go func() { errc <- a.Call(ctx, "b", "hang", nil, nil) }()
			<-started
			letGo := g.holdWrites()
			defer letGo()
			endedAt := end()
			err := <-errc
			if late := time.Since(endedAt); late > lateBound {
				t.Errorf("Call returned %v after its ctx ended, want at most %v", late, lateBound)
			}
			if !errors.Is(err, kind.want) {
				t.Errorf("Call = %v, want %v", err, kind.want)
			}
			letGo()
			select {
			case err := <-ended:
				// With a deadline, the handler's own timer may end its
				// ctx before the cancel frame arrives.
				if kind.want == context.Canceled && !errors.Is(err, kind.want) {
					t.Errorf("remote handler's ctx ended with %v, want %v", err, kind.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the remote handler's ctx did not end within 10s")
			}
			if err := a.Call(context.Background(), "b", "echo", echoReq{"after"}, nil); err != nil {
				t.Fatalf("Call after the stall: %v", err)
			}
			if after := connTo(a, "b"); after != before {
				t.Error("the connection was closed and replaced; the caller's clean-up must not close it")
			}
		})
	}
}

// TestCtxOfOneCallerNeverClosesTheConn: while a's writes to b stall,
// caller x (whose ctx ends) and then caller y (with time to spare) send
// requests. x returns ctx.Err() as soon as its ctx ends, and y, once the
// connection moves again, gets its reply on the same connection. Issue 12:
// x, being first, wrote the queue out itself under its own deadline; the
// write timed out, which closed the connection, and y failed with
// ErrConnLost (and a canceled x stayed blocked in the write, up to 10 s).
func TestCtxOfOneCallerNeverClosesTheConn(t *testing.T) {
	for _, kind := range ctxKinds {
		t.Run(kind.name, func(t *testing.T) {
			a, _, g := gatedPair(t)
			before := connTo(a, "b")
			letGo := g.holdWrites()
			defer letGo()
			ctx, end, cleanup := kind.start()
			defer cleanup()
			xerr := make(chan error, 1)
			go func() { xerr <- a.Call(ctx, "b", "echo", echoReq{"x"}, nil) }()
			g.waitBlocked(t) // x's request is being written, and stalls
			yctx, ycancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer ycancel()
			yerr := make(chan error, 1)
			var y echoResp
			go func() { yerr <- a.Call(yctx, "b", "echo", echoReq{"y"}, &y) }()
			endedAt := end()
			var err error
			select {
			case err = <-xerr:
			case <-time.After(lateBound + time.Until(endedAt)):
				letGo()
				err = <-xerr
				t.Errorf("x returned %v after its ctx ended, want at most %v", time.Since(endedAt), lateBound)
			}
			if !errors.Is(err, kind.want) {
				t.Errorf("x: Call = %v, want %v", err, kind.want)
			}
			letGo()
			if err := <-yerr; err != nil || y.Text != "y" {
				t.Fatalf("y: Call = %+v, %v; want its reply", y, err)
			}
			if after := connTo(a, "b"); after != before {
				t.Error("the connection was closed and replaced")
			}
		})
	}
}

// TestCallWithExpiredCtx: a call whose ctx has ended, or is about to,
// returns ctx.Err(), never ErrConnLost, and leaves the connection, which
// other calls share, open. Issue 12: the write took its deadline from the
// ctx, failed at once with "i/o timeout", and closed the connection, so
// the caller got ErrConnLost and so did every call waiting on it. This is
// what made TestCallErrors/deadline flaky under CPU load.
func TestCallWithExpiredCtx(t *testing.T) {
	// n1 and n2 joined through n0: n1 has a connection to n0 and none
	// to n2.
	nodes := newTestCluster(t, 3, testKey)
	a, b := nodes[1], nodes[0]
	release := make(chan struct{})
	b.Handle("wait", func(ctx context.Context, _ *Request) (any, error) {
		select {
		case <-release:
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	for _, n := range nodes {
		HandleFunc(n, "echo", func(ctx context.Context, from string, r echoReq) (echoResp, error) {
			return echoResp{From: from, Text: r.Text}, nil
		})
	}
	if err := a.Call(context.Background(), "n0", "echo", echoReq{"warm"}, nil); err != nil {
		t.Fatal(err)
	}
	before := connTo(a, "n0")
	if before == nil {
		t.Fatal("no connection from n1 to n0")
	}
	// A call that shares the connection and waits for the others.
	var shared string
	sharedErr := make(chan error, 1)
	go func() { sharedErr <- a.Call(context.Background(), "n0", "wait", nil, &shared) }()

	expired := func() (context.Context, context.CancelFunc) {
		return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	}
	nearly := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Microsecond)
	}
	canceled := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	}
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		node string
		want error
	}{
		{"expired", expired, "n0", context.DeadlineExceeded},
		{"nearly expired", nearly, "n0", context.DeadlineExceeded},
		{"canceled", canceled, "n0", context.Canceled},
		{"expired, no connection yet", expired, "n2", context.DeadlineExceeded},
		{"nearly expired, no connection yet", nearly, "n2", context.DeadlineExceeded},
		{"expired, to itself", expired, "n1", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				ctx, cancel := tt.ctx()
				err := a.Call(ctx, tt.node, "echo", echoReq{"late"}, nil)
				cancel()
				if !errors.Is(err, tt.want) || errors.Is(err, ErrConnLost) {
					t.Fatalf("Call = %v, want %v", err, tt.want)
				}
			}
		})
	}
	close(release)
	if err := <-sharedErr; err != nil || shared != "done" {
		t.Fatalf("the call sharing the connection = %q, %v; want done", shared, err)
	}
	if after := connTo(a, "n0"); after != before {
		t.Error("the shared connection was closed and replaced")
	}
}
