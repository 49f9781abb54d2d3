package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/taskpool"
)

// The task row's shape: closed-loop submitters spread over the 3
// workers' nodes (or clients), and each worker's concurrency.
const (
	taskSubmitters  = 64
	taskWorkers     = 3
	taskConcurrency = 64
	taskTimeout     = 10 * time.Second
	asynqPoll       = time.Millisecond // asynq's TaskCheckInterval: it polls Redis when its queues are empty
)

func tasksRow() row {
	return row{
		name:   "tasks",
		title:  "Tasks: no-op, 64 submitters, 3 workers",
		metric: throughput,
		setup: "64 goroutines each run a no-op task and wait for it to finish, back to back; they are " +
			"spread over the 3 nodes (asynq: over 3 clients). gossipsync: 3 nodes on 127.0.0.1, a " +
			"taskpool.Pool of 64 on each, the command registered on all three; Run returns the " +
			"worker's reply. A submitting node that is a worker runs a share of the tasks itself, " +
			"without a network hop (the pool's placement prefers free capacity); the second line " +
			"submits from a 4th node that is not a worker, so that every task crosses the network. asynq: 3 asynq.Servers (Concurrency 64 each) on one redis-server, " +
			"TaskCheckInterval 1 ms (default 1 s: a worker sleeps that long when its queue is " +
			"empty), MaxRetry 0; asynq has no wait for a result, so the handler closes an in-process " +
			"channel the submitter waits on, which spares asynq the trip back.",
		systems: []system{
			{name: "gossipsync, 3 nodes", role: baseline, start: startTaskpool(false)},
			{name: "gossipsync, all remote", role: variant, start: startTaskpool(true)},
			{name: "asynq, 3 workers, 1 Redis", start: startAsynq},
		},
	}
}

// startTaskpool starts 3 nodes with a Pool each, registers the no-op
// command on all and waits until every node sees the three workers. The
// submitters are spread over the three; with remote, they all run on a
// 4th node, whose Pool does not register the command.
func startTaskpool(remote bool) func(context.Context, *env) (workload, error) {
	return func(ctx context.Context, _ *env) (workload, error) {
		n := taskWorkers
		if remote {
			n++
		}
		nodes, err := startNodes(ctx, "t", n)
		if err != nil {
			return workload{}, err
		}
		var pools []*taskpool.Pool
		stop := func() {
			for _, p := range pools {
				p.Close()
			}
			closeNodes(nodes)
		}
		noop := func(context.Context, []byte) ([]byte, error) { return nil, nil }
		for i, node := range nodes {
			p, err := taskpool.New(node, taskpool.Concurrency(taskConcurrency))
			if err == nil && i < taskWorkers {
				err = p.Register("noop", noop)
			}
			if err != nil {
				stop()
				return workload{}, err
			}
			pools = append(pools, p)
		}
		if err := waitWorkers(ctx, nodes, "noop", taskWorkers); err != nil {
			stop()
			return workload{}, err
		}
		submitters := pools
		if remote {
			submitters = pools[taskWorkers:]
		}
		var ops []op
		for k := range taskSubmitters {
			p := submitters[k%len(submitters)]
			ops = append(ops, func(ctx context.Context, _ int64) error {
				_, err := p.Run(ctx, taskpool.Command{Name: "noop"})
				return err
			})
		}
		return workload{run: closedLoop(ops, taskTimeout), stop: stop}, nil
	}
}

// waitWorkers waits until every node sees want members advertising the
// command in the task pool's member tag.
func waitWorkers(ctx context.Context, nodes []*cluster.Node, command string, want int) error {
	deadline := time.Now().Add(joinTimeout)
	for {
		short := ""
		for _, n := range nodes {
			got := 0
			for _, m := range n.Members() {
				if slices.Contains(strings.Split(m.Tags["_tp"], ","), command) {
					got++
				}
			}
			if got < want {
				short = fmt.Sprintf("%s sees %d workers for %s, want %d", n.Name(), got, command, want)
			}
		}
		if short == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s after %v", short, joinTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startAsynq starts 3 asynq servers and 3 clients on the run's Redis.
// Each task's payload is a sequence number; the handler closes the
// channel its submitter registered under it.
func startAsynq(_ context.Context, e *env) (workload, error) {
	rs, err := e.redis()
	if err != nil {
		return workload{}, err
	}
	opt := asynq.RedisClientOpt{Addr: rs.addr}
	var pending sync.Map // sequence number -> chan struct{}
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *asynq.Task) error {
		if ch, ok := pending.LoadAndDelete(binary.BigEndian.Uint64(t.Payload())); ok {
			close(ch.(chan struct{}))
		}
		return nil
	})
	var servers []*asynq.Server
	var clients []*asynq.Client
	stop := func() {
		for _, c := range clients {
			c.Close()
		}
		for _, s := range servers {
			s.Shutdown()
		}
	}
	for range taskWorkers {
		s := asynq.NewServer(opt, asynq.Config{
			Concurrency:       taskConcurrency,
			TaskCheckInterval: asynqPoll,
			ShutdownTimeout:   time.Second,
			LogLevel:          asynq.ErrorLevel,
		})
		if err := s.Start(mux); err != nil {
			stop()
			return workload{}, fmt.Errorf("asynq server: %w", err)
		}
		servers = append(servers, s)
		clients = append(clients, asynq.NewClient(opt))
	}
	var seq atomic.Uint64
	var ops []op
	for k := range taskSubmitters {
		c := clients[k%len(clients)]
		ops = append(ops, func(ctx context.Context, _ int64) error {
			id := seq.Add(1)
			ch := make(chan struct{})
			pending.Store(id, ch)
			defer pending.Delete(id)
			payload := binary.BigEndian.AppendUint64(nil, id)
			if _, err := c.EnqueueContext(ctx, asynq.NewTask("noop", payload), asynq.MaxRetry(0)); err != nil {
				return err
			}
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	return workload{run: closedLoop(ops, taskTimeout), stop: stop}, nil
}
