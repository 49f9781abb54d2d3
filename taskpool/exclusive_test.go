package taskpool_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/gossipsync/gossipsync/taskpool"
)

// One Pool per node: a second is refused while the first is open (it
// would take over the first's methods), and allowed once it closed.
func TestSimOnePoolPerNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := startEnv(t, 1)
		n := e.c.Node("n1")
		if _, err := taskpool.New(n); !errors.Is(err, taskpool.ErrPoolExists) {
			t.Fatalf("second Pool: %v, want ErrPoolExists", err)
		}
		e.p["n1"].Close()
		p, err := taskpool.New(n)
		if err != nil {
			t.Fatalf("Pool after the first closed: %v", err)
		}
		e.p["n1"] = p // closed at cleanup
	})
}
