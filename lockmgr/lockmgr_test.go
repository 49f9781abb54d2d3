package lockmgr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

func TestOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1)
		n := e.c.Node("n1")
		tests := []struct {
			name string
			opts []lockmgr.Option
			ok   bool
		}{
			{"defaults", nil, true},
			{"all set", []lockmgr.Option{lockmgr.Replicas(5), lockmgr.Quorum(false), lockmgr.LockDelay(time.Second)}, true},
			{"zero replicas", []lockmgr.Option{lockmgr.Replicas(0)}, false},
			{"tiny lock delay", []lockmgr.Option{lockmgr.LockDelay(time.Millisecond)}, false},
			{"nil clock", []lockmgr.Option{lockmgr.Clock(nil)}, false},
		}
		for _, tt := range tests {
			m, err := lockmgr.New(n, tt.opts...)
			if (err == nil) != tt.ok {
				t.Errorf("%s: New error = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if m != nil {
				m.Close()
			}
		}
		if _, err := lockmgr.New(nil); err == nil {
			t.Error("New(nil) succeeded")
		}
	})
}

func TestAcquireBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1)
		m := e.m["n1"] // LockDelay 500ms: TTL at most 400ms
		tests := []struct {
			name string
			id   string
			opts []lockmgr.AcquireOption
		}{
			{"empty id", "", nil},
			{"long id", strings.Repeat("x", 257), nil},
			{"ttl too short", "a", []lockmgr.AcquireOption{lockmgr.TTL(time.Millisecond)}},
			{"ttl too long", "a", []lockmgr.AcquireOption{lockmgr.TTL(time.Hour)}},
			{"ttl above lock delay", "a", []lockmgr.AcquireOption{lockmgr.TTL(time.Second)}},
			{"default ttl above lock delay", "a", nil},
			{"zero wait", "a", []lockmgr.AcquireOption{lockmgr.TTL(testTTL), lockmgr.Wait(0)}},
		}
		for _, tt := range tests {
			if l, err := m.Acquire(context.Background(), tt.id, tt.opts...); err == nil {
				t.Errorf("%s: Acquire succeeded", tt.name)
				l.Release(context.Background())
			}
		}
		l, err := m.Acquire(context.Background(), strings.Repeat("x", 256), lockmgr.TTL(testTTL))
		if err != nil {
			t.Fatalf("Acquire of a 256-byte id: %v", err)
		}
		e.rec.release(t, e.rec.add("n1", l), l)
	})
}

func TestClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		l, _ := e.acquire(t, "n1", "c")
		m := e.m["n1"]
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, ok := <-l.Done(); ok {
			t.Error("Done still open after Close")
		}
		ctx := context.Background()
		if _, err := m.Acquire(ctx, "c", lockmgr.TTL(testTTL)); !errors.Is(err, lockmgr.ErrClosed) {
			t.Errorf("Acquire after Close = %v, want ErrClosed", err)
		}
		if err := m.Release(ctx, "c"); !errors.Is(err, lockmgr.ErrClosed) {
			t.Errorf("Release after Close = %v, want ErrClosed", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		// Close released the lock: another node gets it at once.
		begin := time.Now()
		l2, h2 := e.acquire(t, "n2", "c")
		if d := time.Since(begin); d > testTTL {
			t.Errorf("granted %v after Close, want about a round trip", d)
		}
		e.rec.release(t, h2, l2)
	})
}

func TestFence(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		token uint64
		stale bool
	}{
		{"first", "a", 5, false},
		{"equal", "a", 5, false},
		{"higher", "a", 7, false},
		{"lower", "a", 6, true},
		{"other id", "b", 1, false},
		{"still higher", "a", 8, false},
		{"zero", "a", 0, true},
	}
	var f lockmgr.Fence
	for _, tt := range tests {
		err := f.Check(tt.id, tt.token)
		if got := errors.Is(err, lockmgr.ErrStaleToken); got != tt.stale {
			t.Errorf("%s: Check(%q, %d) = %v, want stale=%v", tt.name, tt.id, tt.token, err, tt.stale)
		}
	}
}
