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
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
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
	size := flag.Int("size", 0, "expected cluster size: no lock is granted without a majority of it (default: the members seen)")
	file := flag.String("file", filepath.Join(os.TempDir(), "gossipsync-lock-demo.txt"), "the shared file the holders write to")
	demo.Main(launch, func(ctx context.Context, f demo.Flags) error { return runNode(ctx, f, *size, *file) })
}

// runNode runs one node until ctx ends: it takes the lock in turn with
// the others and writes while it holds it. Then it releases what it
// holds, leaves the cluster and closes.
func runNode(ctx context.Context, f demo.Flags, size int, file string) error {
	node, err := cluster.New(cluster.Config{
		Name:         f.Name,
		BindAddr:     f.Bind,
		SecretKey:    f.Key,
		ExpectedSize: size,
		// Local: all nodes are on this machine, so a crash is detected
		// in about a second. Across machines use cluster.LAN.
		Profile: cluster.Local,
	})
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Printf("%s listening on %s\n", node.Name(), node.Addr())
	if err := demo.Join(ctx, node, f.Join); err != nil {
		return err
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
	// Valid right before the side effect: it is right even just after
	// this process was frozen (Done may close a moment late then). The
	// token in the write catches a freeze between the check and it.
	if !l.Valid() {
		fmt.Printf("lost the lock before writing, token %d\n", l.Token())
		return
	}
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
	if err := locks.Close(); err != nil {
		return err
	}
	return demo.Leave(node)
}
