package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server child process on a free loopback port,
// without persistence (--save "" --appendonly no), its directory under
// the run's.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

// redis returns the run's Redis server, starting it on first use. It
// returns an error wrapping errSkip when redis-server is not on PATH.
func (e *env) redis() (*redisServer, error) {
	if e.redisSrv == nil && e.redisErr == nil {
		e.redisSrv, e.redisErr = startRedis(e)
		if e.redisErr == nil {
			e.onClose(e.redisSrv.stop)
		}
	}
	return e.redisSrv, e.redisErr
}

func startRedis(e *env) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: redis-server not found", errSkip)
	}
	dir, err := e.subdir("redis")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	s := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(ports[0])}
	s.cmd = exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning")
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	cli := s.client(1)
	defer cli.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cli.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s does not answer: %w", s.addr, err)
		}
	}
}

// client returns a client with a pool of at least conns connections.
func (s *redisServer) client(conns int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: max(conns, 10)})
}

// stop kills the server and reaps it.
func (s *redisServer) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}
