package clustertest_test

import (
	"fmt"
	"testing"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/cluster/clustertest"
)

func TestStart(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		nodes := clustertest.Start(t, 3, nil)
		for i, n := range nodes {
			if want := fmt.Sprintf("n%d", i+1); n.Name() != want {
				t.Errorf("node %d named %q, want %q", i, n.Name(), want)
			}
			if got := len(n.Members()); got != 3 {
				t.Errorf("%s sees %d members, want 3", n.Name(), got)
			}
		}
	})
	t.Run("cfg", func(t *testing.T) {
		nodes := clustertest.Start(t, 2, func(i int) cluster.Config {
			return cluster.Config{Name: fmt.Sprintf("x%d", i)}
		})
		if nodes[0].Name() != "x0" || nodes[1].Name() != "x1" {
			t.Errorf("names %q, %q; want x0, x1", nodes[0].Name(), nodes[1].Name())
		}
	})
}
