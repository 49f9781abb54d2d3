package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os/signal"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/realnet/nfq"
)

// runDelay holds back the packets queued to an NFQUEUE (in the
// namespace it runs in) and lets each go after a delay drawn uniformly
// from [-min, -max]: packets of one flow that are closer than the
// spread arrive reordered. It runs until SIGTERM or SIGINT and prints
// what it did.
func runDelay(args []string) error {
	fs := flag.NewFlagSet("delay", flag.ContinueOnError)
	queue := fs.Uint("queue", 0, "NFQUEUE number")
	lo := fs.Duration("min", 10*time.Millisecond, "shortest delay")
	hi := fs.Duration("max", 80*time.Millisecond, "longest delay")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *queue > 65535 || *lo < 0 || *hi < *lo {
		return errors.New("delay: want -queue in 0..65535 and 0 <= -min <= -max")
	}
	q, err := nfq.Open(uint16(*queue))
	if err != nil {
		return err
	}
	defer q.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Println("delay: queue", *queue, "bound")
	spread := int64(*hi-*lo) + 1
	st, err := q.Run(ctx, func() time.Duration { return *lo + time.Duration(rand.Int64N(spread)) })
	fmt.Printf("delay: %d packets, %d released, %d errors\n", st.Packets, st.Released, st.Errors)
	return err
}
