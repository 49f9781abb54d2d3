// Events shows an event stream across gossipsync nodes in separate
// processes on loopback. One node publishes orders to the topic
// "orders"; the others are the members of the consumer group
// "shipping", which hands each order to one member at a time: a member
// handles it (a short sleep) and acks it. An order that a member took
// but did not ack, because it crashed, is handed out again once its
// AckWait has passed.
//
// Run one node per terminal (Ctrl-C makes a node leave and exit):
//
//	go run ./examples/events -name a -bind 127.0.0.1:7946 -key $KEY -role publish
//	go run ./examples/events -name b -bind 127.0.0.1:7947 -join 127.0.0.1:7946 -key $KEY
//	go run ./examples/events -name c -bind 127.0.0.1:7948 -join 127.0.0.1:7946 -key $KEY
//
// or run it without flags: it starts a (the publisher), b and c (the
// consumers) as child processes, shows their output, kills a consumer
// (kill -9) while it holds an order it has not acked, and checks that
// every order was handled and acked, the killed one by the other
// consumer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/events"
	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

// The topic, the group, and how long a member has to ack.
const (
	topic   = "orders"
	group   = "shipping"
	ackWait = 2 * time.Second
	handle  = 200 * time.Millisecond // a member's work on one order
)

func main() {
	role := flag.String("role", "consume", `"publish" publishes -orders orders, then waits for Ctrl-C; "consume" handles orders until Ctrl-C`)
	orders := flag.Int("orders", 20, "how many orders the publisher publishes")
	size := flag.Int("size", 0, "expected cluster size (default: the members seen)")
	demo.Main(launch, func(ctx context.Context, f demo.Flags) error {
		switch *role {
		case "publish", "consume":
		default:
			return fmt.Errorf("-role %q: want publish or consume", *role)
		}
		return runNode(ctx, f, *role, *orders, *size)
	})
}

// runNode runs one node in its role, then closes its Stream, leaves the
// cluster and closes the node.
func runNode(ctx context.Context, f demo.Flags, role string, orders, size int) error {
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
	stream, err := events.New(node)
	if err != nil {
		return err
	}
	defer stream.Close()
	if role == "publish" {
		err = publish(ctx, stream, orders)
	} else {
		err = consume(ctx, stream)
	}
	if err != nil {
		return err
	}
	if err := stream.Close(); err != nil {
		return err
	}
	return demo.Leave(node)
}

// publish publishes orders, each with an idempotency key so that a retry
// after an unknown outcome publishes it once, then waits for ctx.
func publish(ctx context.Context, stream *events.Stream, orders int) error {
	for i := 1; i <= orders; i++ {
		order := fmt.Sprintf("order-%d", i)
		for {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			e, err := stream.Publish(pctx, topic, []byte(order), events.IdempotencyKey(order))
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				fmt.Println("publish failed, retrying:", err)
				continue
			}
			fmt.Printf("published %s at offset %d\n", order, e.Offset)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("published all")
	<-ctx.Done()
	return nil
}

// consume handles the group's orders until ctx ends: each is printed
// when taken, worked on, and acked.
func consume(ctx context.Context, stream *events.Stream) error {
	sub, err := stream.Subscribe(ctx, topic, events.Group(group), events.AckWait(ackWait))
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Println("consuming", topic, "in group", group)
	for {
		e, err := sub.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, events.ErrNoQuorum) {
				continue // the voters are electing a leader: ask again
			}
			return err
		}
		fmt.Printf("took %s (offset %d, delivery %d)\n", e.Payload, e.Offset, e.Deliveries())
		select {
		case <-time.After(handle):
		case <-ctx.Done():
			return nil
		}
		if err := e.Ack(ctx); err != nil {
			fmt.Println("ack failed:", err)
			continue
		}
		fmt.Printf("acked %s\n", e.Payload)
	}
}
