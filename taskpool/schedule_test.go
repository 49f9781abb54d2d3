package taskpool_test

import (
	"errors"
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
