package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// AcquireOnce acquires lock id once with the Manager of the first alive
// node (in name order) that runs one, releases it at once and returns
// its token and when Acquire was called. The grant is not recorded in
// the History: it is for ids the clients never touch ("idle" ids), whose
// tokens must still come from the counter all ids share.
func (w *LockWorkload) AcquireOnce(ctx context.Context, id string) (token uint64, called time.Time, err error) {
	w.mu.Lock()
	names := make([]string, 0, len(w.running))
	for name := range w.running {
		names = append(names, name)
	}
	slices.SortFunc(names, compareNames)
	var m *lockmgr.Manager
	if len(names) > 0 {
		m = w.running[names[0]].m
	}
	closed := w.closed
	w.mu.Unlock()
	if closed || m == nil {
		return 0, time.Time{}, errors.New("sim: AcquireOnce: no lock manager running")
	}
	called = time.Now()
	l, err := m.Acquire(ctx, id, lockmgr.TTL(w.opt.TTL), lockmgr.Wait(w.opt.Wait))
	if err != nil {
		return 0, called, fmt.Errorf("acquire %s on %s: %w", id, names[0], err)
	}
	rctx, cancel := context.WithTimeout(ctx, w.opt.TTL)
	defer cancel()
	l.Release(rctx) // the lease ends by its TTL if the release is lost
	return l.Token(), called, nil
}

// ElectOnce campaigns once in group on the first alive node of c (in
// name order) with an Elector of its own, resigns at once and returns
// the term it won. No other Elector needs to campaign in group.
func ElectOnce(ctx context.Context, c *Cluster, group string) (uint64, error) {
	nodes := c.Nodes()
	if len(nodes) == 0 {
		return 0, errors.New("sim: ElectOnce: no node alive")
	}
	n := nodes[0]
	e, err := election.New(n, election.Group(group))
	if err != nil {
		return 0, fmt.Errorf("elect in %s on %s: %w", group, n.Name(), err)
	}
	defer e.Close()
	el, err := e.Elect(ctx, "idle-"+n.Name())
	if err != nil {
		return 0, fmt.Errorf("elect in %s on %s: %w", group, n.Name(), err)
	}
	term := el.Term()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	el.Resign(rctx)
	return term, nil
}
