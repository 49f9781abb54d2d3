package metrics_test

import (
	"strings"
	"testing"
	"testing/synctest"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gossipsync/gossipsync/metrics"
	"github.com/gossipsync/gossipsync/sim/simtest"
)

// BridgeGossip brings memberlist's and serf's figures to the registry
// under go-metrics' names; a second call on the same registry is fine.
// It sets go-metrics' process-wide sink, which the test puts back.
func TestBridgeGossip(t *testing.T) {
	t.Cleanup(gometrics.Shutdown) // back to the default sink, which discards
	if err := metrics.BridgeGossip(nil); err == nil {
		t.Error("BridgeGossip(nil) succeeded")
	}
	reg := prometheus.NewRegistry()
	if err := metrics.BridgeGossip(reg); err != nil {
		t.Fatalf("BridgeGossip: %v", err)
	}
	if err := metrics.BridgeGossip(reg); err != nil {
		t.Fatalf("a second BridgeGossip on the same registry: %v", err)
	}
	synctest.Test(t, func(t *testing.T) {
		simtest.Start(t, 3, 1)
		s := waitFor(t, reg, "memberlist's and serf's metrics", func(s scrape) bool {
			return s["memberlist_gossip"] != nil && s["serf_member_join"] != nil
		})
		if got := s.value(t, "serf_member_join"); got < 2 {
			t.Errorf("serf_member_join = %v after 3 nodes joined, want at least 2", got)
		}
		for name := range s {
			if !strings.HasPrefix(name, "memberlist_") && !strings.HasPrefix(name, "serf_") {
				t.Errorf("metric %s: want memberlist's and serf's only", name)
			}
		}
	})
}
