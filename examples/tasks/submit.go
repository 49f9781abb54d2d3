package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/taskpool"
)

// wantWorkers is how many workers the submitter waits for.
const wantWorkers = 2

// submit runs the submitter's script: a batch of tasks spread over the
// workers, two Runs that share an idempotency id, and a slow task that
// survives the crash of its worker. It stops early, without an error,
// when ctx ends.
func submit(ctx context.Context, pool *taskpool.Pool, node *cluster.Node, tasks int) error {
	if err := waitWorkers(ctx, node); err != nil {
		return nil
	}
	steps := []func(context.Context, *taskpool.Pool) error{
		func(ctx context.Context, p *taskpool.Pool) error { return batch(ctx, p, tasks) },
		sharedID,
		survive,
	}
	for _, step := range steps {
		if err := step(ctx, pool); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	fmt.Println("done")
	return nil
}

// waitWorkers waits until wantWorkers members advertise the command. The
// member tag "_tp" lists a node's commands (see the taskpool doc).
func waitWorkers(ctx context.Context, node *cluster.Node) error {
	for {
		var ws []string
		for _, m := range node.Members() {
			if slices.Contains(strings.Split(m.Tags["_tp"], ","), command) {
				ws = append(ws, m.Name)
			}
		}
		if len(ws) >= wantWorkers {
			fmt.Printf("workers for %s: %s\n", command, strings.Join(ws, ", "))
			return nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// batch runs tasks concurrently, prints where each ran, then how many
// each worker ran.
func batch(ctx context.Context, pool *taskpool.Pool, tasks int) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // protects errs, ran and the order of lines
		errs  []error
		ran   = map[string]int{}
		begin = time.Now()
	)
	for i := range tasks {
		wg.Go(func() {
			img := fmt.Sprintf("img-%02d.jpg", i+1)
			res, err := pool.Run(ctx, taskpool.Command{Name: command, Payload: []byte(img), Retries: 2})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ran[worker(res)]++
			fmt.Printf("%s\n", res)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	var counts []string
	for _, w := range slices.Sorted(maps.Keys(ran)) {
		counts = append(counts, fmt.Sprintf("%s ran %d", w, ran[w]))
	}
	fmt.Printf("%d tasks in %v: %s\n", tasks, time.Since(begin).Round(10*time.Millisecond), strings.Join(counts, ", "))
	return nil
}

// sharedID runs one task twice at once with one idempotency id: the
// worker runs it once and both Runs get its result.
func sharedID(ctx context.Context, pool *taskpool.Pool) error {
	const id = "avatar-42"
	fmt.Printf("two concurrent Runs with ID %s\n", id)
	var (
		wg   sync.WaitGroup
		res  [2][]byte
		errs [2]error
	)
	for i := range res {
		wg.Go(func() {
			res[i], errs[i] = pool.Run(ctx, taskpool.Command{Name: command, Payload: []byte("avatar.jpg"), ID: id})
		})
	}
	wg.Wait()
	for i := range res {
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Printf("run %d: %s\n", i+1, res[i])
	}
	if string(res[0]) == string(res[1]) {
		fmt.Println("one execution, shared result")
	} else {
		fmt.Println("two executions")
	}
	return nil
}

// survive runs a slow task whose worker may crash while it runs it: the
// task then runs again on another worker.
func survive(ctx context.Context, pool *taskpool.Pool) error {
	fmt.Println("running big.jpg (slow)")
	before, begin := pool.Stats().Retried, time.Now()
	res, err := pool.Run(ctx, taskpool.Command{Name: command, Payload: []byte("big.jpg")})
	if err != nil {
		return err
	}
	fmt.Printf("%s, after %d retries, in %v\n", res, pool.Stats().Retried-before, time.Since(begin).Round(10*time.Millisecond))
	return nil
}

// worker returns the worker named in a result: "... resized by b (...)".
func worker(res []byte) string {
	_, after, _ := strings.Cut(string(res), " resized by ")
	name, _, _ := strings.Cut(after, " ")
	return name
}
