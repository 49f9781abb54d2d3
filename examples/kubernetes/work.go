package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// The lock every pod takes in turn, how long a holder keeps it, and
// how long a pod waits before asking again.
const (
	lockID   = "kubernetes-demo/report"
	holdFor  = 2 * time.Second
	lockWait = 3 * time.Second
)

// campaign runs for leadership as candidate id until ctx ends, doing
// the leader's work whenever it leads; then it resigns the lease it
// holds, so that another pod takes over at once instead of after the
// lease.
func campaign(ctx context.Context, e *election.Elector, id string) {
	el, err := e.Elect(ctx, id)
	for err == nil {
		lead(ctx, el)
		if ctx.Err() != nil {
			resign(el)
			return
		}
		fmt.Printf("revoked, term %d\n", el.Term())
		err = el.Reelect(ctx)
	}
	if ctx.Err() == nil {
		fmt.Println("campaign:", err)
	}
}

// lead does the leader's work every second until the lease is revoked
// or ctx ends. The term is the work's fencing token: a store that
// remembers the highest term it saw refuses a paused old leader.
func lead(ctx context.Context, el *election.Elected) {
	term := el.Term()
	fmt.Printf("leading, term %d\n", term)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if !el.Valid() { // right before the work: Revoked may close late after a pause
				return
			}
			fmt.Printf("leader work, term %d\n", term)
		case <-el.Revoked():
			return
		case <-ctx.Done():
			return
		}
	}
}

func resign(el *election.Elected) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := el.Resign(ctx); err != nil {
		fmt.Println("resign:", err)
		return
	}
	fmt.Printf("resigned, term %d\n", el.Term())
}

// useLock takes the lock, holds it for a while and releases it, then
// waits and does it again, until ctx ends.
func useLock(ctx context.Context, locks *lockmgr.Manager) {
	for ctx.Err() == nil {
		l, err := locks.Acquire(ctx, lockID)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, lockmgr.ErrNoQuorum):
			fmt.Println("lock: no quorum yet")
		case err != nil:
			fmt.Println("lock:", err)
		default:
			fmt.Printf("holding %s, token %d\n", lockID, l.Token())
			hold(ctx, l)
			release(l)
		}
		sleep(ctx, lockWait)
	}
}

// hold keeps l for holdFor, or until its lease ends or ctx ends.
func hold(ctx context.Context, l *lockmgr.Lock) {
	t := time.NewTimer(holdFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.Done():
		fmt.Printf("lost %s, token %d\n", lockID, l.Token())
	case <-ctx.Done():
	}
}

// release releases l on its own bounded context, since ctx may have
// ended.
func release(l *lockmgr.Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Release(ctx); err != nil && !errors.Is(err, lockmgr.ErrNotHeld) {
		fmt.Println("release:", err)
		return
	}
	fmt.Printf("released %s, token %d\n", lockID, l.Token())
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
