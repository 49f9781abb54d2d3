package lockmgr_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/lockmgr"
)

// Three nodes on loopback sockets, one Manager each. n1 takes the lock and
// writes through a Fence; n2 takes it next with a higher token, and the
// Fence then refuses n1's late write.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var locks []*lockmgr.Manager
	var seed string // the first node's address: the others join it
	for i := range 3 {
		n, err := cluster.New(cluster.Config{
			Name: fmt.Sprintf("n%d", i+1), BindAddr: "127.0.0.1:0",
			Profile: cluster.Local, ExpectedSize: 3,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer n.Close()
		if i == 0 {
			seed = n.Addr()
		} else if _, err := n.Join(ctx, seed); err != nil {
			log.Fatal(err)
		}
		// A short LockDelay keeps the example quick: a new node grants
		// nothing for that long. The default suits the default 10 s TTL.
		m, err := lockmgr.New(n, lockmgr.LockDelay(500*time.Millisecond))
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		locks = append(locks, m)
	}

	var store lockmgr.Fence // stands for the guarded resource
	const id = "invoice-42"
	ttl := lockmgr.TTL(400 * time.Millisecond)

	l1, err := locks[0].Acquire(ctx, id, ttl)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("n1 holds", l1.ID())
	if l1.Valid() { // right before the side effect
		fmt.Println("n1 writes:", store.Check(id, l1.Token()))
	}
	if err := l1.Release(ctx); err != nil {
		log.Fatal(err)
	}

	l2, err := locks[1].Acquire(ctx, id, ttl)
	if err != nil {
		log.Fatal(err)
	}
	defer l2.Release(ctx)
	fmt.Println("n2 holds", l2.ID(), "with a higher token:", l2.Token() > l1.Token())
	fmt.Println("n2 writes:", store.Check(id, l2.Token()))
	err = store.Check(id, l1.Token())
	fmt.Println("n1 writes late, refused:", errors.Is(err, lockmgr.ErrStaleToken))
	// Output:
	// n1 holds invoice-42
	// n1 writes: <nil>
	// n2 holds invoice-42 with a higher token: true
	// n2 writes: <nil>
	// n1 writes late, refused: true
}
