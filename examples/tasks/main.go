// Tasks shows the task pool across gossipsync nodes in separate processes
// on loopback. Workers register the command "resize" (its fake work
// sleeps and returns a string naming the worker); a submitter, which is
// not a worker, runs tasks and prints where each ran. It also runs two
// concurrent tasks with one idempotency id (one execution, one shared
// result) and a slow task, during which a worker may crash: the task then
// runs again on another worker (at-least-once).
//
// Run one node per terminal (Ctrl-C makes a node leave and exit):
//
//	go run ./examples/tasks -name a -bind 127.0.0.1:7946 -key $KEY -role submit
//	go run ./examples/tasks -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY
//	go run ./examples/tasks -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY
//
// or run it without flags: it starts a (the submitter), b and c (the
// workers) as child processes, shows their output, kills the worker that
// runs the slow task (kill -9) while it runs it, and stops the rest once
// the submitter is done.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
	"github.com/gossipsync/gossipsync/taskpool"
)

// The command.
const command = "resize"

// duration is how long the fake work on img takes: 100 ms for the
// batch's images (img-*), 3 s for big ones, 500 ms for the others.
func duration(img string) time.Duration {
	switch {
	case strings.HasPrefix(img, "img-"):
		return 100 * time.Millisecond
	case strings.HasPrefix(img, "big"):
		return 3 * time.Second
	}
	return 500 * time.Millisecond
}

func main() {
	role := flag.String("role", "worker", `"worker" runs resize tasks until Ctrl-C; "submit" runs the demo's tasks, then leaves`)
	tasks := flag.Int("tasks", 20, "how many tasks the submitter runs first")
	demo.Main(launch, func(ctx context.Context, f demo.Flags) error {
		switch *role {
		case "worker", "submit":
		default:
			return fmt.Errorf("-role %q: want worker or submit", *role)
		}
		return runNode(ctx, f, *role, *tasks)
	})
}

// runNode runs one node in its role, then closes its Pool, leaves the
// cluster and closes the node.
func runNode(ctx context.Context, f demo.Flags, role string, tasks int) error {
	node, err := cluster.New(cluster.Config{
		Name:      f.Name,
		BindAddr:  f.Bind,
		SecretKey: f.Key,
		// Local: all nodes are on this machine, so a crash is detected
		// in about a second. Across machines use cluster.LAN.
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
	pool, err := taskpool.New(node, taskpool.Concurrency(4), taskpool.Timeout(10*time.Second))
	if err != nil {
		return err
	}
	defer pool.Close()
	if role == "worker" {
		err = serve(ctx, pool, node.Name())
	} else {
		err = submit(ctx, pool, node, tasks)
	}
	if err != nil {
		return err
	}
	if err := pool.Close(); err != nil {
		return err
	}
	return demo.Leave(node)
}

// serve registers resize and runs its tasks until ctx ends. The batch's
// tasks run quietly (the submitter prints where they ran); the others
// print when they start, so that the output shows every execution.
func serve(ctx context.Context, pool *taskpool.Pool, self string) error {
	var runs atomic.Int64
	err := pool.Register(command, func(ctx context.Context, img []byte) ([]byte, error) {
		if !strings.HasPrefix(string(img), "img-") {
			fmt.Printf("resizing %s\n", img)
		}
		select {
		case <-time.After(duration(string(img))):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return fmt.Appendf(nil, "%s resized by %s (its run %d)", img, self, runs.Add(1)), nil
	})
	if err != nil {
		return err
	}
	fmt.Println("worker for", command)
	<-ctx.Done()
	return nil
}
