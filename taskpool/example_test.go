package taskpool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/taskpool"
)

// This example runs two nodes on loopback, a and b, each with a Pool. The
// local form runs a Func on a's own pool; the distributed form runs the
// command "resize", which only b registered, from a.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		nodes [2]*cluster.Node
		pools [2]*taskpool.Pool
	)
	for i, name := range []string{"a", "b"} {
		n, err := cluster.New(cluster.Config{Name: name, BindAddr: "127.0.0.1:0", Profile: cluster.Local})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer n.Close()
		nodes[i] = n
		if i > 0 {
			if _, err := n.Join(ctx, nodes[0].Addr()); err != nil {
				fmt.Println(err)
				return
			}
		}
		p, err := taskpool.New(n, taskpool.Concurrency(4))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer p.Close()
		pools[i] = p
	}
	a, b := pools[0], pools[1]

	// The local form: Func runs on this node's pool; Name is a label.
	_, err := a.Run(ctx, taskpool.Command{Name: "flush", Func: func() error {
		fmt.Println("flushing on a")
		return nil
	}})
	fmt.Println("flush:", err)

	// The distributed form: b registers the command, a runs it.
	err = b.Register("resize", func(ctx context.Context, img []byte) ([]byte, error) {
		return []byte("thumbnail of " + string(img) + " by b"), nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		thumb, err := a.Run(ctx, taskpool.Command{Name: "resize", Payload: []byte("cat.jpg"), Retries: 2})
		if errors.Is(err, taskpool.ErrNoWorker) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // b's tags have not reached a yet
			continue
		}
		fmt.Printf("resize: %s, %v\n", thumb, err)
		break
	}
	// Output:
	// flushing on a
	// flush: <nil>
	// resize: thumbnail of cat.jpg by b, <nil>
}
