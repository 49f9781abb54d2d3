package main

import (
	"context"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/realnet"
)

// readClock reads clk every 100 ms and logs each reading with the time
// before and after it (on this machine every process's physical clock
// is the same clock, which is what lets the judge know the truth).
func readClock(ctx context.Context, clk *clock.Clock, h *realnet.Writer, name string, pid int) {
	for ctx.Err() == nil {
		at := time.Now()
		before := clk.Stats()
		iv, err := clk.Interval()
		now, err2 := clk.Now()
		st := clk.Stats()
		done := time.Now()
		if before.Term != st.Term || before.IsReference != st.IsReference || before.Offset != st.Offset {
			continue // a sample or a change of reference came between: the reading is torn
		}
		e := realnet.Event{T: "clock", Node: name, PID: pid, At: at, Done: done, Token: st.Term, Ref: st.IsReference, Offset: st.Offset}
		if err == nil && err2 == nil {
			e.Earliest, e.Latest, e.Now = iv.Earliest, iv.Latest, now
		} else {
			e.Err = "unsynced"
		}
		h.Write(e)
		sleep(ctx, 100*time.Millisecond)
	}
}
