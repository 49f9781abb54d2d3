package main

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

// TestScenariosInBubble runs every scenario inside a synctest bubble,
// where time moves only while every goroutine waits. A loop that retries
// without waiting on a timer (an election storm, say) stops virtual time
// there, and the run never ends, while in real time it would only burn
// CPU. Each run takes well under a second of wall time; the test's
// -timeout catches a hang.
func TestScenariosInBubble(t *testing.T) {
	for _, s := range []string{"partition", "crash", "pause", "skew", "loss", "churn", "all"} {
		for seed := 1; seed <= 3; seed++ {
			t.Run(s+"/seed"+strconv.Itoa(seed), func(t *testing.T) {
				began := time.Now()
				synctest.Test(t, func(t *testing.T) {
					var out, errb bytes.Buffer
					args := []string{"sim", "-scenario", s, "-duration", "10s", "-seed", strconv.Itoa(seed)}
					if code := run(context.Background(), args, &out, &errb); code != 0 {
						t.Errorf("exit status %d, want 0\n%s%s", code, out.String(), errb.String())
					}
					// memberlist and serf leave goroutines behind their
					// Shutdown (a dial in flight, a reconnect timer);
					// the bubble ends only once they have.
					time.Sleep(10 * time.Second)
				})
				t.Logf("wall time %v", time.Since(began))
			})
		}
	}
}
