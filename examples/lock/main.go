// Lock shows distributed locks across gossipsync nodes in separate
// processes on loopback: every node contends for the lock "demo"; the
// holder prints its fencing token and appends "token N by <node>" to a
// shared file, which refuses a write whose token is below the file's
// last one. When a holder crashes, another node gets the lock with a
// higher token once the crashed holder's lease has run out.
//
// Run one node per terminal (Ctrl-C makes a node release, leave and exit):
//
//	go run ./examples/lock -name a -bind 127.0.0.1:7946 -key $KEY
//	go run ./examples/lock -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY
//	go run ./examples/lock -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY
//
// or run it without flags: it starts a, b and c as child processes, shows
// their output, kills a holder (kill -9) while it holds the lock, waits
// for another node to get it, then stops the rest.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// The lease: renewed every ttl/3 while held. A new node grants nothing
// for lockDelay (it may be a restarted node that forgot a grant), which
// must be at least 1.25 ttl.
const (
	ttl       = time.Second
	lockDelay = ttl + ttl/4
	holdFor   = time.Second // how long a holder keeps the lock
	lockID    = "demo"
)

func main() {
	if len(os.Args) == 1 {
		os.Exit(launch())
	}
	name := flag.String("name", "", "node name, unique in the cluster (default: host name and a random suffix)")
	bind := flag.String("bind", "127.0.0.1:7946", "ip:port to listen on, UDP and TCP")
	join := flag.String("join", "", "comma-separated addresses of members to join (default: start a new cluster)")
	key := flag.String("key", "", "the cluster's secret key in hex, 16, 24 or 32 bytes (default: an open cluster)")
	size := flag.Int("size", 0, "expected cluster size: no lock is granted without a majority of it (default: the members seen)")
	file := flag.String("file", filepath.Join(os.TempDir(), "gossipsync-lock-demo.txt"), "the shared file the holders write to")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := cluster.Config{
		Name: *name, BindAddr: *bind, ExpectedSize: *size,
		// Local: all nodes are on this machine, so a crash is detected
		// in about a second. Across machines use cluster.LAN.
		Profile: cluster.Local,
	}
	if err := runNode(ctx, cfg, *join, *key, *file); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// runNode runs one node until ctx ends: it takes the lock in turn with
// the others and writes while it holds it. Then it releases what it
// holds, leaves the cluster and closes.
func runNode(ctx context.Context, cfg cluster.Config, join, keyHex, file string) error {
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return fmt.Errorf("-key: %w", err)
	}
	if len(key) > 0 {
		cfg.SecretKey = key
	}
	node, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())
	if join != "" {
		if err := joinSeeds(ctx, node, strings.Split(join, ",")); err != nil {
			return err
		}
		fmt.Printf("joined via %s\n", join)
	}
	locks, err := lockmgr.New(node, lockmgr.LockDelay(lockDelay))
	if err != nil {
		return err
	}
	defer locks.Close()
	if err := contend(ctx, locks, node.Name(), file); err != nil {
		return err
	}
	return shutdown(node, locks)
}

// contend takes the lock, writes, holds it for a while and releases it,
// over and over until ctx ends.
func contend(ctx context.Context, locks *lockmgr.Manager, self, file string) error {
	for {
		fmt.Println("waiting for the lock")
		l, err := locks.Acquire(ctx, lockID, lockmgr.TTL(ttl))
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, lockmgr.ErrNoQuorum) {
			fmt.Println("no quorum yet; retrying in 1s")
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		if err != nil {
			return err
		}
		fmt.Printf("holding, token %d\n", l.Token())
		hold(ctx, l, self, file)
		if err := release(l); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// hold writes once with the lock's token, then keeps the lock for
// holdFor, until its lease ends or until ctx ends.
func hold(ctx context.Context, l *lockmgr.Lock, self, file string) {
	line := fmt.Sprintf("token %d by %s", l.Token(), self)
	if err := appendFenced(file, l.Token(), line); err != nil {
		fmt.Println("refused:", err)
	} else {
		fmt.Printf("wrote %q\n", line)
	}
	t := time.NewTimer(holdFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.Done():
		fmt.Printf("lost the lock, token %d\n", l.Token())
	case <-ctx.Done():
	}
}

// release releases l on its own bounded context, since ctx may have
// ended. A lease that already ran out is not an error here.
func release(l *lockmgr.Lock) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.Release(ctx)
	if errors.Is(err, lockmgr.ErrNotHeld) {
		return nil
	}
	if err == nil {
		fmt.Printf("released, token %d\n", l.Token())
	}
	return err
}

// shutdown closes the Manager, leaves the cluster, so the others see a
// leave, not a failure, and closes the node.
func shutdown(node *cluster.Node, locks *lockmgr.Manager) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := locks.Close(); err != nil {
		return err
	}
	fmt.Println("leaving")
	if err := node.Leave(ctx); err != nil {
		return err
	}
	fmt.Println("left")
	return node.Close()
}

// joinSeeds joins the cluster, retrying every second while no seed
// answers, so that the nodes can be started in any order.
func joinSeeds(ctx context.Context, node *cluster.Node, seeds []string) error {
	for {
		_, err := node.Join(ctx, seeds...)
		if err == nil || errors.Is(err, cluster.ErrAuth) || errors.Is(err, cluster.ErrDuplicateName) {
			return err // a wrong key or a name in use will not get better
		}
		fmt.Printf("join: %v; retrying in 1s\n", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
