package main

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/realnet"
)

// campaign runs for leadership of the suite's group over and over: once
// elected it leads for up to 2 s (or until revoked), then resigns. Each
// lead is logged with its term, from Elect's return to the moment it was
// revoked or resigned, whichever came first.
func campaign(ctx context.Context, e *election.Elector, h *realnet.Writer, name string, pid int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2))
	for ctx.Err() == nil {
		el, err := e.Elect(ctx, name)
		if err != nil {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		start := time.Now()
		if !el.Valid() { // stopped or starved between the election and start
			resign(el)
			continue
		}
		h.Write(realnet.Event{T: "lead", Node: name, PID: pid, Token: el.Term(), At: start})
		end := time.Now()
		select {
		case <-time.After(time.Duration(r.Int64N(int64(2 * time.Second)))):
			end = time.Now()
		case <-el.Revoked():
			end = time.Now()
		case <-ctx.Done():
			end = time.Now()
		}
		resign(el)
		h.Write(realnet.Event{T: "unlead", Node: name, PID: pid, Token: el.Term(), At: end})
		sleep(ctx, time.Duration(r.Int64N(int64(500*time.Millisecond))))
	}
}

func resign(el *election.Elected) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	el.Resign(ctx)
}
