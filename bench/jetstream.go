package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServerVersion is the embedded nats-server's, for the setup text.
const natsServerVersion = "v" + server.VERSION

// natsStart bounds starting the servers and their JetStream meta group.
const natsStart = 30 * time.Second

// natsCluster is nats-server embedded in this process: 3 servers with
// JetStream, clustered over loopback routes, their stores under the
// run's directory.
type natsCluster struct {
	servers []*server.Server
}

// jetStream returns the run's NATS cluster, starting it on first use.
func (e *env) jetStream() (*natsCluster, error) {
	if e.nats != nil {
		return e.nats, nil
	}
	dir, err := e.subdir("nats")
	if err != nil {
		return nil, err
	}
	c, err := startNATS(dir, 3)
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	e.nats = c
	e.onClose(c.close)
	return c, nil
}

// startNATS starts n servers, each routed to every other, and waits until
// each accepts clients.
func startNATS(dir string, n int) (*natsCluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	for i := range n {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])})
	}
	c := &natsCluster{}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		opts := &server.Options{
			ServerName: name,
			Host:       "127.0.0.1",
			Port:       ports[2*i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, name),
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name:        "bench",
				Host:        "127.0.0.1",
				Port:        ports[2*i+1],
				Compression: server.CompressionOpts{Mode: server.CompressionOff},
			},
			Routes: routes,
		}
		s, err := server.NewServer(opts)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("server %s: %w", name, err)
		}
		s.Start()
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(natsStart) {
			c.close()
			return nil, fmt.Errorf("server %s not ready within %v", s.Name(), natsStart)
		}
	}
	return c, nil
}

func (c *natsCluster) close() {
	for _, s := range c.servers {
		s.Shutdown()
	}
	for _, s := range c.servers {
		s.WaitForShutdown()
	}
}

// startJetStream creates the row's stream (3 replicas, memory storage)
// on the run's NATS cluster, with a connection to each server, an
// ordered consumer on each and the publishers spread over them.
func startJetStream(pubs int, row string) func(context.Context, *env) (workload, error) {
	return func(ctx context.Context, e *env) (workload, error) {
		c, err := e.jetStream()
		if err != nil {
			return workload{}, err
		}
		name := "BENCH_" + strings.ToUpper(strings.ReplaceAll(row, "-", "_"))
		subject := "bench." + row
		var conns []*nats.Conn
		var consumers []jetstream.ConsumeContext
		stop := func() {
			for _, cc := range consumers {
				cc.Stop()
			}
			if len(conns) > 0 {
				js, _ := jetstream.New(conns[0])
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				js.DeleteStream(dctx, name)
				cancel()
			}
			for _, nc := range conns {
				nc.Close()
			}
		}
		var jss []jetstream.JetStream
		for _, s := range c.servers {
			nc, err := nats.Connect(s.ClientURL(), nats.Name("bench"))
			if err != nil {
				stop()
				return workload{}, fmt.Errorf("connect to %s: %w", s.Name(), err)
			}
			conns = append(conns, nc)
			js, err := jetstream.New(nc)
			if err != nil {
				stop()
				return workload{}, err
			}
			jss = append(jss, js)
		}
		if err := createStream(ctx, jss[0], jetstream.StreamConfig{
			Name:      name,
			Subjects:  []string{subject},
			Storage:   jetstream.MemoryStorage,
			Replicas:  3,
			MaxMsgs:   eventRetainMsgs,
			MaxBytes:  eventRetainBytes,
			Discard:   jetstream.DiscardOld,
			Retention: jetstream.LimitsPolicy,
		}); err != nil {
			stop()
			return workload{}, err
		}
		rig := newEventRig(pubs)
		var publish []publishFunc
		for i, js := range jss {
			cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
			if err != nil {
				stop()
				return workload{}, fmt.Errorf("ordered consumer: %w", err)
			}
			cc, err := cons.Consume(func(m jetstream.Msg) { rig.deliver(i, m.Data()) })
			if err != nil {
				stop()
				return workload{}, fmt.Errorf("consume: %w", err)
			}
			consumers = append(consumers, cc)
			publish = append(publish, func(ctx context.Context, p []byte) error {
				_, err := js.Publish(ctx, subject, p)
				return err
			})
		}
		return rig.workload(publish, stop), nil
	}
}

// createStream creates the stream, retrying until the cluster's
// JetStream meta group has a leader and answers.
func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	deadline := time.Now().Add(natsStart)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateStream(cctx, cfg)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
