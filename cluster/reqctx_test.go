package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// countingCtx is a parent context that counts the children registered
// with it and not yet unregistered: the context package registers a
// child through AfterFunc when the parent can be canceled, has an
// AfterFunc method and is not one of its own cancelable contexts (Value
// hides that), and unregisters it (the returned stop) when the child is
// canceled.
type countingCtx struct {
	context.Context // cancelable
	mu              sync.Mutex
	live            int
}

func (c *countingCtx) Value(any) any { return nil }

func (c *countingCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	c.live++
	c.mu.Unlock()
	stop := context.AfterFunc(c.Context, f)
	var once sync.Once
	return func() bool {
		once.Do(func() {
			c.mu.Lock()
			c.live--
			c.mu.Unlock()
		})
		return stop()
	}
}

func (c *countingCtx) children() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// A request's context leaves nothing registered with the node's base
// context once the handler is done. The code before registered a second,
// never canceled child for every request with a deadline, which stayed
// until the node closed.
func TestRequestContextLeavesNoChild(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	base := &countingCtx{Context: parent}
	for _, timeout := range []time.Duration{0, time.Minute} {
		for range 100 {
			ctx, cancel := requestContext(base, timeout)
			if dl, ok := ctx.Deadline(); ok != (timeout > 0) || ok && time.Until(dl) > timeout {
				t.Fatalf("timeout %v: deadline %v, %v", timeout, dl, ok)
			}
			cancel()
		}
		if n := base.children(); n != 0 {
			t.Errorf("timeout %v: %d children of the base context left after 100 requests, want 0", timeout, n)
		}
	}
}
