package sim

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/gossipsync/gossipsync/cluster"
)

// CrashAll crashes every alive node at once, as a power loss would: the
// traffic of all of them stops together, then each is crashed as Crash
// does (hooks, Close), all in parallel. It returns their names, in
// order.
func (c *Cluster) CrashAll() []string {
	c.mu.Lock()
	names := make([]string, 0, len(c.nodes))
	for name := range c.nodes {
		names = append(names, name)
		c.net.SetDown(c.ips[name], true)
	}
	c.mu.Unlock()
	slices.SortFunc(names, compareNames)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() { c.Crash(name) })
	}
	wg.Wait()
	return names
}

// RestartAll restarts the crashed nodes names one after the other, in
// order, each joining through those already up (the first through the
// nodes alive before it, if any). It returns the nodes started, and the
// errors of those that failed to start or to join (a node whose join
// failed runs, as after Restart).
func (c *Cluster) RestartAll(ctx context.Context, names []string) ([]*cluster.Node, error) {
	var out []*cluster.Node
	var errs []error
	for _, name := range names {
		n, err := c.Restart(ctx, name)
		if n != nil {
			out = append(out, n)
		}
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}
