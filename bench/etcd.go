package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcd timing. The heartbeat and election timeout are half etcd's
// defaults (100 ms, 1 s), which suits loopback and lowers the shortest
// lease etcd grants (1.5 election timeouts, rounded up to whole seconds)
// from 2 s to 1 s: etcdMinTTL.
const (
	etcdTickMs     = 50
	etcdElectionMs = 500
	etcdMinTTL     = 1 // seconds
	etcdStart      = 30 * time.Second
)

// etcdCluster is etcd embedded in this process: n members on loopback
// ports, data (WAL fsynced on every write, etcd's default) under the
// run's directory.
type etcdCluster struct {
	members   []*embed.Etcd
	endpoints []string // client URL of each member
}

// etcd returns the run's etcd cluster of n members, starting it on first
// use.
func (e *env) etcd(n int) (*etcdCluster, error) {
	if c := e.etcds[n]; c != nil {
		return c, nil
	}
	dir, err := e.subdir(fmt.Sprintf("etcd%d", n))
	if err != nil {
		return nil, err
	}
	c, err := startEtcd(dir, n)
	if err != nil {
		return nil, fmt.Errorf("etcd %d members: %w", n, err)
	}
	e.etcds[n] = c
	e.onClose(c.close)
	return c, nil
}

// startEtcd starts n members at once (a member waits for its peers) and
// waits until each is ready.
func startEtcd(dir string, n int) (*etcdCluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	peerURL := func(i int) url.URL { return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])} }
	clientURL := func(i int) url.URL { return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])} }
	var initial []string
	for i := range n {
		u := peerURL(i)
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, u.String()))
	}
	c := &etcdCluster{}
	errs := make(chan error, n)
	started := make(chan *embed.Etcd, n)
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i+1)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cfg.ListenPeerUrls = []url.URL{peerURL(i)}
		cfg.AdvertisePeerUrls = []url.URL{peerURL(i)}
		cfg.ListenClientUrls = []url.URL{clientURL(i)}
		cfg.AdvertiseClientUrls = []url.URL{clientURL(i)}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = fmt.Sprintf("bench-%d", n)
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.TickMs, cfg.ElectionMs = etcdTickMs, etcdElectionMs
		cfg.LogLevel = "error"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // closing logs errors of its own
		u := clientURL(i)
		c.endpoints = append(c.endpoints, u.String())
		go func() {
			m, err := embed.StartEtcd(cfg)
			if err != nil {
				errs <- fmt.Errorf("member %s: %w", cfg.Name, err)
				return
			}
			started <- m
		}()
	}
	var firstErr error
	for range n {
		select {
		case m := <-started:
			c.members = append(c.members, m)
		case err := <-errs:
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil {
		timeout := time.After(etcdStart)
		for _, m := range c.members {
			select {
			case <-m.Server.ReadyNotify():
			case err := <-m.Err():
				firstErr = err
			case <-timeout:
				firstErr = fmt.Errorf("not ready within %v", etcdStart)
			}
			if firstErr != nil {
				break
			}
		}
	}
	if firstErr != nil {
		c.close()
		return nil, firstErr
	}
	return c, nil
}

func (c *etcdCluster) close() {
	for _, m := range c.members {
		m.Close()
	}
}

// client returns a new client that talks to member i%n only.
func (c *etcdCluster) client(i int) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{c.endpoints[i%len(c.endpoints)]},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "/bench/ping"); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcd client: first read: %w", err)
	}
	return cli, nil
}
