// Leader shows leader election across gossipsync nodes in separate
// processes on loopback: every node campaigns in group "demo", the highest
// name leads and does leader-only work fenced by its term, the others
// follow it, and when the leader crashes another takes over with a higher
// term.
//
// Run one node per terminal (Ctrl-C makes a node resign, leave and exit):
//
//	go run ./examples/leader -name a -bind 127.0.0.1:7946 -key $KEY
//	go run ./examples/leader -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY
//	go run ./examples/leader -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY
//
// or run it without flags: it starts a, b and c as child processes, shows
// their output, kills the leader once it has led for 2 s, waits for
// another node to take over, then stops the rest.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func main() { demo.Main(launch, runNode) }

// runNode runs one node until ctx ends: it campaigns for the group's
// leadership, does the leader work while it leads and prints the leader
// it follows otherwise. Then it resigns, leaves the cluster and closes.
func runNode(ctx context.Context, f demo.Flags) error {
	node, err := cluster.New(cluster.Config{
		Name:      f.Name,
		BindAddr:  f.Bind,
		SecretKey: f.Key,
		// Local: all nodes are on this machine, so a crash is detected
		// in about a second and the election's lease defaults to 1 s,
		// which keeps the failover short enough to watch. Across
		// machines use the default profile, cluster.LAN (lease 5 s).
		Profile: cluster.Local,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())
	if err := demo.Join(ctx, node, f.Join); err != nil {
		return err
	}

	e, err := election.New(node, election.Group("demo"))
	if err != nil {
		return err
	}
	defer e.Close()
	followed := follow(ctx, e, node.Name())
	el, err := campaign(ctx, e, node.Name())
	if err != nil {
		return err
	}
	<-followed // closed with ctx: no "following" line after this
	return shutdown(node, e, el)
}

// campaign runs for leadership as candidate id until ctx ends, doing the
// leader work whenever it wins. It returns the lease it held when ctx
// ended, if any, for the caller to resign.
func campaign(ctx context.Context, e *election.Elector, id string) (*election.Elected, error) {
	el, err := e.Elect(ctx, id)
	for err == nil {
		lead(ctx, el)
		if ctx.Err() != nil {
			return el, nil
		}
		fmt.Printf("revoked, term %d\n", el.Term())
		err = el.Reelect(ctx)
	}
	if ctx.Err() != nil {
		return nil, nil // interrupted while not leading
	}
	return nil, err
}

// lead does the leader work every 500 ms until the lease is revoked or
// ctx ends.
func lead(ctx context.Context, el *election.Elected) {
	term, revoked := el.Term(), el.Revoked()
	fmt.Printf("leading, term %d\n", term)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-tick.C:
			// Revoked can close late after this process was frozen;
			// Valid reads the clock itself. Check right before the work.
			if !el.Valid() {
				return
			}
			work(n, term)
		case <-revoked:
			return
		case <-ctx.Done():
			return
		}
	}
}

// work is the leader-only work; here it only prints. The term is its
// fencing token: a real service passes it with every write to the shared
// store (a column, a compare-and-set, a lock's token), and the store
// remembers the highest term it has seen and refuses writes with a lower
// one. A leader can lose its lease while paused (GC, a stopped VM) and
// write before it notices; the store turns that late write away, so the
// old leader never overwrites its successor's work.
func work(n int, term uint64) {
	fmt.Printf("tick %d, term %d\n", n, term)
}

// follow prints the leader this node follows whenever it changes, until
// ctx ends; the channel it returns closes then. A node does not print
// itself: it says "leading" instead.
func follow(ctx context.Context, e *election.Elector, self string) <-chan struct{} {
	leaders := e.Follow(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for l := range leaders {
			switch {
			case ctx.Err() != nil: // shutting down: stay quiet
			case l.ID == "":
				fmt.Println("no leader")
			case l.Node != self:
				fmt.Printf("following %s, term %d\n", l.ID, l.Term)
			}
		}
	}()
	return done
}

// shutdown resigns the lease el (if not nil), so that another node can
// take over at once instead of after the lease; then it closes the
// Elector, leaves the cluster, so the others see a leave, not a failure,
// and closes. It resigns on its own bounded context, since the node's has
// ended.
func shutdown(node *cluster.Node, e *election.Elector, el *election.Elected) error {
	if el != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := el.Resign(ctx); err != nil {
			return fmt.Errorf("resign: %w", err)
		}
		fmt.Printf("resigned, term %d\n", el.Term())
	}
	if err := e.Close(); err != nil {
		return err
	}
	return demo.Leave(node)
}
