// Package simtest starts simulated clusters for tests that run inside a
// testing/synctest bubble.
package simtest

import (
	"context"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
)

// Settle is how long teardown lets virtual time run after closing the
// nodes: memberlist's Shutdown does not wait for its in-flight probes,
// and the bubble must not end with them still blocked.
const Settle = 10 * time.Second

// Start starts a cluster.Local cluster of n nodes with the given seed in
// the current synctest bubble, failing the test if it does not converge
// within 30 s of virtual time, and closes it at cleanup.
func Start(t testing.TB, nodes int, seed int64) *sim.Cluster {
	t.Helper()
	return StartOptions(t, sim.Options{Nodes: nodes, Seed: seed, Profile: cluster.Local})
}

// StartOptions is Start with every option given.
func StartOptions(t testing.TB, opt sim.Options) *sim.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	c, err := sim.Start(ctx, opt)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		time.Sleep(Settle)
	})
	return c
}
