package taskpool_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/taskpool"
)

// mustSchedule calls Schedule and stops the test on its error.
func mustSchedule(t *testing.T, p *taskpool.Pool, name string, every time.Duration, cmd taskpool.Command) func() {
	t.Helper()
	cancel, err := p.Schedule(name, every, cmd)
	if err != nil {
		t.Fatalf("Schedule(%q): %v", name, err)
	}
	return cancel
}

// Schedule refuses bad input at once, and a closed Pool.
func TestSimScheduleBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1)
		p := e.p["n1"]
		noop := taskpool.Command{Name: "x", Func: func() error { return nil }}
		for _, tc := range []struct {
			name  string
			every time.Duration
			cmd   taskpool.Command
		}{
			{"", time.Second, noop},
			{"s", 0, noop},
			{"s", -time.Second, noop},
			{"s", time.Second, taskpool.Command{}},
			{"s", time.Second, taskpool.Command{Name: "a,b"}},
		} {
			if cancel, err := p.Schedule(tc.name, tc.every, tc.cmd); err == nil {
				cancel()
				t.Errorf("Schedule(%q, %v, %+v) succeeded", tc.name, tc.every, tc.cmd)
			}
		}
		mustSchedule(t, p, "s", time.Second, noop)()
		p.Close()
		if _, err := p.Schedule("s", time.Second, noop); !errors.Is(err, taskpool.ErrClosed) {
			t.Errorf("Schedule on a closed Pool: %v, want ErrClosed", err)
		}
	})
}

// A scheduled registered command's handler reads its tick and the
// leader's term (TickOf), on whichever worker runs it; a plain Run
// carries none.
func TestSimScheduleTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 3)
		var mu sync.Mutex
		var ticks []taskpool.Tick
		plain := 0
		e.register(t, "stamp", func(ctx context.Context, _ []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			if tk, ok := taskpool.TickOf(ctx); ok {
				ticks = append(ticks, tk)
			} else {
				plain++
			}
			return nil, nil
		}, "n2", "n3")
		for _, p := range e.p { // the candidates: a majority runs the voter service
			defer mustSchedule(t, p, "every-second", time.Second, taskpool.Command{Name: "stamp"})()
		}
		if _, err := e.p["n1"].Run(context.Background(), taskpool.Command{Name: "stamp"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		mu.Lock()
		defer mu.Unlock()
		if plain != 1 || len(ticks) < 3 {
			t.Fatalf("%d plain runs, ticks %+v; want 1, and 3 or more ticks", plain, ticks)
		}
		for i, tk := range ticks {
			if tk.Schedule != "every-second" || tk.Term == 0 || i > 0 && tk.N != ticks[i-1].N+1 {
				t.Errorf("tick %d: %+v after %+v; want schedule every-second, a term, consecutive ticks", i, tk, ticks[max(i-1, 0)])
			}
		}
		t.Logf("%d ticks, the last %+v", len(ticks), ticks[len(ticks)-1])
	})
}
