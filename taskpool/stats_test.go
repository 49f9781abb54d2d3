package taskpool_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/taskpool"
)

// Stats counts a Run on the submitter (started, failed, in flight,
// latency) and its execution on the worker (done, failed, latency).
func TestSimStatsCountRunsAndExecutions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 2)
		release := make(chan struct{})
		e.register(t, "work", func(ctx context.Context, payload []byte) ([]byte, error) {
			if string(payload) == "fail" {
				return nil, errors.New("failed on purpose")
			}
			<-release
			return payload, nil
		}, "n2")
		ctx := context.Background()
		ran := make(chan error, 1)
		go func() {
			_, err := e.p["n1"].Run(ctx, taskpool.Command{Name: "work", Payload: []byte("ok")})
			ran <- err
		}()
		synctest.Wait()
		if s, w := e.p["n1"].Stats(), e.p["n2"].Stats(); s.Submitted != 1 || s.InFlight != 1 || w.Running != 1 {
			t.Errorf("while running: submitter %+v, worker %+v; want one Run in flight, one running", s, w)
		}
		time.Sleep(20 * time.Millisecond)
		close(release)
		if err := <-ran; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if _, err := e.p["n1"].Run(ctx, taskpool.Command{Name: "work", Payload: []byte("fail")}); err == nil {
			t.Fatal("a failing Run succeeded")
		}
		s := e.p["n1"].Stats()
		if s.Submitted != 2 || s.RunFailures != 1 || s.InFlight != 0 || s.RunLatency.Count != 2 {
			t.Errorf("submitter's stats %+v, want 2 submitted, 1 failure, none in flight, 2 latencies", s)
		}
		if s.RunLatency.Sum < 20*time.Millisecond {
			t.Errorf("Run latency sum %v, want at least the 20 ms the handler was held", s.RunLatency.Sum)
		}
		w := e.p["n2"].Stats()
		if w.Done != 1 || w.Failed != 1 || w.Running != 0 || w.ExecLatency.Count != 2 || w.Submitted != 0 {
			t.Errorf("worker's stats %+v, want 1 done, 1 failed, 2 execution latencies, none submitted", w)
		}
	})
}
