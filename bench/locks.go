package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/voters"
)

// Lock leases. gossipsync's TTL and LockDelay are the shortest pair that
// stays clear of lease expiry under load on 2 cores (TTL+TTL/4 must not
// exceed LockDelay); a fresh cluster grants nothing for LockDelay, which
// the cluster's start waits out. etcd's sessions and Redis's keys get the
// same TTL.
const (
	lockTTL       = 2 * time.Second
	lockDelay     = lockTTL + lockTTL/4
	pairTimeout   = 10 * time.Second     // bounds one Acquire+Release
	redisLockPoll = 1 * time.Millisecond // Redis has no wait queue: a client polls SET NX
)

// lockClients is how many clients every lock row offers: the 3
// gossipsync nodes, 3 etcd clients (one per member; all on the one
// member of a 1-member cluster), 3 Redis connection pools.
const lockClients = 3

// lockShape is how a lock row drives a lock service: perClient
// goroutines on each of clients clients, the i-th Acquire+Release of the
// row (over all goroutines) on ids[i%len(ids)].
type lockShape struct {
	clients, perClient int
	ids                []string
}

func uncontendedRow() row {
	return row{
		name:   "uncontended",
		title:  "Lock, uncontended: Acquire+Release, 1 client, 1 id",
		metric: throughput,
		setup: "One goroutine acquires and releases one id in a loop, through gossipsync node 1, etcd " +
			"member 1 or one Redis connection. In quorum mode gossipsync's node 1 is the node of the " +
			"voters' Raft leader (the nodes are numbered so once the group formed), where each " +
			"operation costs one Raft round; the line \"client on a follower\" runs the loop on " +
			"another node, which adds a round trip to the leader per operation. " + lockSetup,
		systems: append(lockSystems(lockShape{clients: 1, perClient: 1, ids: []string{"alone"}}),
			system{name: "gossipsync, quorum, client on a follower", role: aside,
				start: func(ctx context.Context, e *env) (workload, error) {
					c, err := e.gossipLocks(ctx, true)
					if err != nil {
						return workload{}, err
					}
					return pairWorkload(followerLocks{c}, lockShape{clients: 1, perClient: 1, ids: []string{"alone"}})
				}}),
	}
}

func manyIDsRow() row {
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	return row{
		name:   "many-ids",
		title:  "Locks, 8 goroutines per node × 64 ids",
		metric: throughput,
		setup: "8 goroutines on each of the 3 clients (24 in all) acquire and release ids taken in turn " +
			"from 64. " + lockSetup,
		systems: lockSystems(lockShape{clients: lockClients, perClient: 8, ids: ids}),
	}
}

func contendedRow() row {
	return row{
		name:   "contended",
		title:  "Lock, contended: 8 goroutines per node on 1 id",
		metric: throughput,
		setup: "8 goroutines on each of the 3 clients (24 in all) acquire and release one id; ops/s " +
			"is handovers per second. Redis has no wait queue: a refused client polls every 1 ms. " + lockSetup,
		systems: lockSystems(lockShape{clients: lockClients, perClient: 8, ids: []string{"hot"}}),
	}
}

// lockSetup describes the systems of every lock row.
const lockSetup = "gossipsync: 3 nodes on 127.0.0.1 in this process (Local profile, no secret key), one " +
	"Manager each, TTL 2 s, LockDelay 2.5 s (waited out before the row); quorum mode, and " +
	"Quorum(false) as a second line. etcd: embedded, 1 and 3 members (heartbeat 50 ms, election " +
	"500 ms, WAL fsynced), concurrency.Mutex on a session of TTL 2 s per goroutine, each client " +
	"talking to one member. Redis: redis-server without persistence, SET NX PX 2000 and a Lua " +
	"compare-and-delete to release."

// lockSystems lists the lock services every lock row compares.
func lockSystems(shape lockShape) []system {
	with := func(get func(ctx context.Context, e *env) (locker, error)) func(context.Context, *env) (workload, error) {
		return func(ctx context.Context, e *env) (workload, error) {
			l, err := get(ctx, e)
			if err != nil {
				return workload{}, err
			}
			return pairWorkload(l, shape)
		}
	}
	return []system{
		{name: "gossipsync, quorum", role: baseline, start: with(func(ctx context.Context, e *env) (locker, error) {
			return e.gossipLocks(ctx, true)
		})},
		{name: "gossipsync, no quorum", role: variant, start: with(func(ctx context.Context, e *env) (locker, error) {
			return e.gossipLocks(ctx, false)
		})},
		{name: "etcd, 1 member", start: with(func(_ context.Context, e *env) (locker, error) {
			return e.etcdLocks(1)
		})},
		{name: "etcd, 3 members", start: with(func(_ context.Context, e *env) (locker, error) {
			return e.etcdLocks(3)
		})},
		{name: "Redis, SET NX PX", start: with(func(_ context.Context, e *env) (locker, error) {
			return e.redisLocks()
		})},
	}
}

// pairFunc acquires id and releases it.
type pairFunc func(ctx context.Context, id string) error

// A locker is a lock service as the lock rows drive it.
type locker interface {
	// worker returns what one goroutine on client c (0..lockClients-1)
	// runs, and how to clean up after it.
	worker(c int) (pair pairFunc, done func(), err error)
}

// pairWorkload makes the goroutines of shape on l; each does
// Acquire+Release pairs back to back.
func pairWorkload(l locker, shape lockShape) (workload, error) {
	var ops []op
	var dones []func()
	stop := func() {
		for _, d := range dones {
			d()
		}
	}
	for c := range shape.clients {
		for range shape.perClient {
			pair, done, err := l.worker(c)
			if err != nil {
				stop()
				return workload{}, err
			}
			ops = append(ops, func(ctx context.Context, seq int64) error {
				return pair(ctx, shape.ids[seq%int64(len(shape.ids))])
			})
			if done != nil {
				dones = append(dones, done)
			}
		}
	}
	return workload{run: closedLoop(ops, pairTimeout), stop: stop}, nil
}

// lockCluster is a gossipsync cluster of 3 nodes with a Manager each.
type lockCluster struct {
	nodes []*cluster.Node
	m     []*lockmgr.Manager
}

// gossipLocks returns the run's lock cluster in the given mode, starting
// it on first use: it returns once every Manager has been granted a lock,
// i.e. after the acceptors' quiet period.
func (e *env) gossipLocks(ctx context.Context, quorum bool) (*lockCluster, error) {
	if c := e.locks[quorum]; c != nil {
		return c, nil
	}
	prefix := "q"
	if !quorum {
		prefix = "u"
	}
	nodes, err := startNodes(ctx, prefix, 3)
	if err != nil {
		return nil, err
	}
	c := &lockCluster{nodes: nodes}
	e.onClose(c.close)
	for _, n := range nodes {
		m, err := lockmgr.New(n, lockmgr.LockDelay(lockDelay), lockmgr.Quorum(quorum))
		if err != nil {
			return nil, err
		}
		c.m = append(c.m, m)
	}
	for i := range c.m {
		pair, _, _ := c.worker(i)
		pctx, cancel := context.WithTimeout(ctx, lockDelay+pairTimeout)
		err := pair(pctx, "warm-up")
		cancel()
		if err != nil {
			return nil, fmt.Errorf("first lock: %w", err)
		}
	}
	if quorum {
		c.leaderFirst()
	}
	e.locks[quorum] = c
	return c, nil
}

// leaderFirst numbers the node of the voters' Raft leader 1: the
// workers of client 0 run there.
func (c *lockCluster) leaderFirst() {
	svc, release, ok := voters.Lookup(c.nodes[0])
	if !ok {
		return
	}
	lead := svc.Info().Leader
	release()
	for i, n := range c.nodes {
		if n.Name() == lead {
			c.nodes[0], c.nodes[i] = c.nodes[i], c.nodes[0]
			c.m[0], c.m[i] = c.m[i], c.m[0]
		}
	}
}

// followerLocks runs client 0's workers on node 2, a follower of the
// voters' leader (see leaderFirst).
type followerLocks struct{ c *lockCluster }

func (f followerLocks) worker(i int) (pairFunc, func(), error) { return f.c.worker(i + 1) }

func (c *lockCluster) close() {
	for _, m := range c.m {
		m.Close()
	}
	closeNodes(c.nodes)
}

func (c *lockCluster) worker(i int) (pairFunc, func(), error) {
	m := c.m[i%len(c.m)]
	return func(ctx context.Context, id string) error {
		l, err := m.Acquire(ctx, id, lockmgr.TTL(lockTTL))
		if err != nil {
			return err
		}
		return l.Release(ctx)
	}, nil, nil
}

// etcdLocker gives each goroutine its own session (lease) on one of the
// clients; a Mutex per Acquire+Release.
type etcdLocker struct {
	clients []*clientv3.Client
}

// etcdLocks returns lock clients for the run's etcd cluster of n
// members, one client per member (3 on the one member when n is 1).
func (e *env) etcdLocks(n int) (*etcdLocker, error) {
	c, err := e.etcd(n)
	if err != nil {
		return nil, err
	}
	l := &etcdLocker{}
	for i := range lockClients {
		cli, err := c.client(i)
		if err != nil {
			return nil, err
		}
		e.onClose(func() { cli.Close() })
		l.clients = append(l.clients, cli)
	}
	return l, nil
}

func (l *etcdLocker) worker(c int) (pairFunc, func(), error) {
	s, err := concurrency.NewSession(l.clients[c], concurrency.WithTTL(int(lockTTL/time.Second)))
	if err != nil {
		return nil, nil, fmt.Errorf("etcd session: %w", err)
	}
	return func(ctx context.Context, id string) error {
		m := concurrency.NewMutex(s, "/bench/lock/"+id)
		if err := m.Lock(ctx); err != nil {
			return err
		}
		return m.Unlock(ctx)
	}, func() { s.Close() }, nil
}

// redisLocker takes a lock with SET id token NX PX and releases it with a
// script that deletes the key only if it still holds the token.
type redisLocker struct {
	clients []*redis.Client
}

// redisRelease deletes KEYS[1] if it holds ARGV[1], and returns how many
// keys it deleted.
var redisRelease = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("del", KEYS[1])
end
return 0`)

// errNotHeld is a Redis release that found the key gone or taken over.
var errNotHeld = errors.New("redis lock: not held at release")

func (e *env) redisLocks() (*redisLocker, error) {
	s, err := e.redis()
	if err != nil {
		return nil, err
	}
	l := &redisLocker{}
	for range lockClients {
		cli := s.client(8)
		e.onClose(func() { cli.Close() })
		l.clients = append(l.clients, cli)
	}
	return l, nil
}

func (l *redisLocker) worker(c int) (pairFunc, func(), error) {
	cli := l.clients[c]
	return func(ctx context.Context, id string) error {
		key := "bench:lock:" + id
		token := newToken()
		for {
			err := cli.SetArgs(ctx, key, token, redis.SetArgs{Mode: "NX", TTL: lockTTL}).Err()
			if err == nil {
				break
			}
			if !errors.Is(err, redis.Nil) {
				return err
			}
			select { // held by another: poll
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(redisLockPoll):
			}
		}
		n, err := redisRelease.Run(ctx, cli, []string{key}, token).Int()
		if err == nil && n != 1 {
			err = errNotHeld
		}
		return err
	}, nil, nil
}

// newToken returns a random 16-byte hex string.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
