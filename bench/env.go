package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
)

// env holds the peers a run shares between rows, started on first use
// and stopped by close: the gossipsync lock clusters, the etcd clusters,
// the NATS cluster and the Redis server. Rows run one at a time, so it needs no lock.
type env struct {
	log     io.Writer
	dir     string   // every data directory lives under it
	closers []func() // run in reverse by close

	locks    map[bool]*lockCluster // by quorum mode
	etcds    map[int]*etcdCluster  // by member count
	nats     *natsCluster
	redisSrv *redisServer
	redisErr error // why Redis cannot run, once tried
}

func newEnv(log io.Writer) (*env, error) {
	dir, err := os.MkdirTemp("", "gossipsync-bench-")
	if err != nil {
		return nil, err
	}
	return &env{log: log, dir: dir, locks: map[bool]*lockCluster{}, etcds: map[int]*etcdCluster{}}, nil
}

// onClose registers f to run at close, before everything registered
// earlier.
func (e *env) onClose(f func()) { e.closers = append(e.closers, f) }

// close stops every peer and removes the data directories.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
	os.RemoveAll(e.dir)
}

// subdir makes a fresh directory under the run's.
func (e *env) subdir(name string) (string, error) {
	d := filepath.Join(e.dir, name)
	return d, os.MkdirAll(d, 0o700)
}

// freePorts returns k distinct TCP ports that were free on 127.0.0.1 a
// moment ago.
func freePorts(k int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
