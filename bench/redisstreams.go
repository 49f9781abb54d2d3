package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStreamBlock is how long one XREADGROUP waits for new entries: a
// stopping subscriber notices within it.
const redisStreamBlock = 200 * time.Millisecond

// startRedisStreams makes the row's stream on the run's Redis, with a
// consumer group per subscriber (created at the stream's end: each sees
// every new entry) read with XREADGROUP ... NOACK over a connection of
// its own, and the publishers' XADD MAXLEN ~ spread over 3 clients.
func startRedisStreams(pubs int, row string) func(context.Context, *env) (workload, error) {
	return func(ctx context.Context, e *env) (workload, error) {
		rs, err := e.redis()
		if err != nil {
			return workload{}, err
		}
		key := "bench:" + row
		var clients []*redis.Client
		subCtx, cancelSubs := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		stop := func() {
			cancelSubs()
			wg.Wait()
			if len(clients) > 0 {
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				clients[0].Del(dctx, key)
				cancel()
			}
			for _, c := range clients {
				c.Close()
			}
		}
		admin := rs.client(1)
		clients = append(clients, admin)
		if err := admin.Del(ctx, key).Err(); err != nil {
			stop()
			return workload{}, fmt.Errorf("redis: %w", err)
		}
		rig := newEventRig(pubs)
		var publish []publishFunc
		for i := range eventSubscribers {
			group := fmt.Sprintf("sub%d", i+1)
			if err := admin.XGroupCreateMkStream(ctx, key, group, "$").Err(); err != nil {
				stop()
				return workload{}, fmt.Errorf("redis XGROUP CREATE: %w", err)
			}
			sub := rs.client(1)
			clients = append(clients, sub)
			wg.Go(func() { readStream(subCtx, sub, key, group, i, rig) })
			pub := rs.client(pubs)
			clients = append(clients, pub)
			publish = append(publish, func(ctx context.Context, p []byte) error {
				return pub.XAdd(ctx, &redis.XAddArgs{
					Stream: key, MaxLen: eventRetainMsgs, Approx: true, Values: []any{"p", p},
				}).Err()
			})
		}
		return rig.workload(publish, stop), nil
	}
}

// readStream hands every entry that group reads from key to rig as
// subscriber i's, until ctx ends.
func readStream(ctx context.Context, cli *redis.Client, key, group string, i int, rig *eventRig) {
	args := &redis.XReadGroupArgs{
		Group: group, Consumer: "c", Streams: []string{key, ">"},
		Count: 256, Block: redisStreamBlock, NoAck: true,
	}
	for ctx.Err() == nil {
		res, err := cli.XReadGroup(ctx, args).Result()
		switch {
		case errors.Is(err, redis.Nil): // nothing within the block
			continue
		case err != nil:
			if ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				if p, ok := m.Values["p"].(string); ok {
					rig.deliver(i, []byte(p))
				}
			}
		}
	}
}
