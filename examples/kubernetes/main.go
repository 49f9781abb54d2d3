// Kubernetes shows a service that embeds a gossipsync node, deployed as
// a Deployment of three pods: each pod builds its node from its
// environment (name and IP from the Downward API, the key from a
// Secret, the seeds from a headless Service), joins the others by DNS,
// then takes a lock in turn with them and campaigns for leadership. On
// SIGTERM (kubectl delete, a rolling update, a scale-down) it resigns,
// releases, leaves the cluster gracefully and exits.
//
// See README.md for the deployment, and env.go for the variables:
//
//	docker build -f examples/kubernetes/Dockerfile -t gossipsync-demo .
//	kubectl create secret generic gossipsync-demo-key --from-literal=key=$(openssl rand -hex 32)
//	kubectl apply -f examples/kubernetes/deployment.yaml
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// leaveTimeout bounds the graceful leave (a voter hands its place over
// first). It must fit in the pod's terminationGracePeriodSeconds (30 s
// in deployment.yaml) with the resign and release before it.
const leaveTimeout = 20 * time.Second

func main() {
	s, err := settingsFromEnv(os.Getenv, os.ReadFile)
	if err == nil {
		// SIGTERM is how the kubelet stops a container.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, s)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// run runs the pod's node until ctx ends, then leaves and closes it.
func run(ctx context.Context, s settings) error {
	s.node.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node, err := cluster.New(s.node)
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())
	var ready atomic.Bool
	stopHTTP, err := serveReadiness(s.http, &ready)
	if err != nil {
		return err
	}
	defer stopHTTP()

	if err := join(ctx, node, s); err != nil {
		if ctx.Err() != nil { // stopped before any peer answered: nothing to leave
			return node.Close()
		}
		return err
	}
	ready.Store(true) // from here a rolling update may stop the next old pod

	locks, err := lockmgr.New(node)
	if err != nil {
		return err
	}
	defer locks.Close()
	e, err := election.New(node, election.Group("kubernetes-demo"))
	if err != nil {
		return err
	}
	defer e.Close()
	var wg sync.WaitGroup
	wg.Go(func() { campaign(ctx, e, node.Name()) })
	wg.Go(func() { useLock(ctx, locks) })
	wg.Wait() // both return once ctx ends, the lease resigned, the lock released
	ready.Store(false)
	if err := errors.Join(e.Close(), locks.Close()); err != nil {
		return err
	}
	return leave(node)
}

// join joins the seeds, waiting as long as it takes: the pods of a
// Deployment start in any order, and cluster.Node.Join tries again
// (looking the headless Service up again) until another pod answers.
// With EXPECTED_SIZE 1 there is nobody to wait for.
func join(ctx context.Context, node *cluster.Node, s settings) error {
	if s.node.ExpectedSize == 1 {
		fmt.Println("expected size 1: not waiting for anyone")
		return nil
	}
	fmt.Printf("joining %v\n", s.seeds)
	c, err := node.Join(ctx, s.seeds...)
	if err != nil {
		return err
	}
	fmt.Printf("joined: %d seeds contacted\n", c)
	return nil
}

// leave leaves the cluster, so that the others see a leave and lower
// their quorum basis instead of waiting for a failed member, and closes
// the node. It has its own bounded context: the pod's has ended.
func leave(node *cluster.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	fmt.Println("leaving")
	if err := node.Leave(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	fmt.Println("left")
	return node.Close()
}

// serveReadiness serves /ready on addr: 200 once ready holds, 503
// before. It returns the function that stops the server.
func serveReadiness(addr string, ready *atomic.Bool) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not joined yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
