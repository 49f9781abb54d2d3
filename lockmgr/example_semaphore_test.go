package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// Three nodes on loopback sockets share a semaphore of two slots: two
// hold a slot each, the third is refused, then waits and takes the slot
// that frees. Each slot is a lock of its own, with its own tokens: the
// resource keeps one lane per slot (a Fence keyed by the slot's ID).
func ExampleManager_AcquireSemaphore() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, closeAll := startExampleCluster(ctx, 3)
	defer closeAll()

	const sem, slots = "encoders", 2 // at most two encoders at once
	ttl := lockmgr.TTL(400 * time.Millisecond)
	var store lockmgr.Fence

	a, err := ms[0].AcquireSemaphore(ctx, sem, slots, ttl)
	if err != nil {
		log.Fatal(err)
	}
	b, err := ms[1].AcquireSemaphore(ctx, sem, slots, ttl)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Release(ctx)
	fmt.Println("slots held:", slices.Sorted(slices.Values([]int{a.Slot(), b.Slot()})))
	_, err = ms[2].TryAcquireSemaphore(ctx, sem, slots, ttl)
	fmt.Println("a third is refused:", errors.Is(err, lockmgr.ErrLocked))

	type result struct {
		l   *lockmgr.Lock
		err error
	}
	got := make(chan result)
	go func() { // waits until a slot frees
		l, err := ms[2].AcquireSemaphore(ctx, sem, slots, ttl)
		got <- result{l, err}
	}()
	if a.Valid() { // right before the side effect
		fmt.Println("a writes:", store.Check(a.ID(), a.Token()))
	}
	if err := a.Release(ctx); err != nil {
		log.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		log.Fatal(r.err)
	}
	c := r.l
	defer c.Release(ctx)
	fmt.Println("the third takes a's slot:", c.Slot() == a.Slot(), "with a higher token:", c.Token() > a.Token())
	fmt.Println("it writes:", store.Check(c.ID(), c.Token()))
	err = store.Check(a.ID(), a.Token())
	fmt.Println("a writes late, refused:", errors.Is(err, lockmgr.ErrStaleToken))
	// Output:
	// slots held: [0 1]
	// a third is refused: true
	// a writes: <nil>
	// the third takes a's slot: true with a higher token: true
	// it writes: <nil>
	// a writes late, refused: true
}

// startExampleCluster starts n nodes on loopback sockets, joined, with a
// Manager each, and returns the Managers and a function that closes all.
func startExampleCluster(ctx context.Context, n int) ([]*lockmgr.Manager, func()) {
	var ms []*lockmgr.Manager
	var closers []func() error
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	var seed string // the first node's address: the others join it
	for i := range n {
		node, err := cluster.New(cluster.Config{
			Name: fmt.Sprintf("n%d", i+1), BindAddr: "127.0.0.1:0",
			Profile: cluster.Local, ExpectedSize: n,
		})
		if err != nil {
			log.Fatal(err)
		}
		closers = append(closers, node.Close)
		if i == 0 {
			seed = node.Addr()
		} else if _, err := node.Join(ctx, seed); err != nil {
			log.Fatal(err)
		}
		m, err := lockmgr.New(node, lockmgr.LockDelay(500*time.Millisecond))
		if err != nil {
			log.Fatal(err)
		}
		closers = append(closers, m.Close)
		ms = append(ms, m)
	}
	return ms, closeAll
}
