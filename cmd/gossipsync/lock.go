package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/lockmgr"
)

const lockUsage = `usage: gossipsync lock [flags] ID -- CMD [ARGS...]

Takes the lock ID (or, with -n K, one of the K slots of the semaphore ID)
and runs CMD while it holds it, like consul lock and etcdctl lock.

CMD runs with GOSSIPSYNC_LOCK_ID and GOSSIPSYNC_LOCK_TOKEN (the grant's
fencing token: pass it to whatever CMD writes, so that a write of a
holder that lost its lease is refused) in its environment, and
GOSSIPSYNC_LOCK_SLOT with -n. The lock is renewed while CMD runs. If the
lease is lost (the voters cannot be reached before it runs out), CMD gets
SIGTERM, and SIGKILL if it has not exited after -grace or an eighth of
-ttl, whichever is shorter: the voters may grant the lock again a quarter
TTL after the lease's end, and CMD must be gone by then. When CMD exits
the lock is released; gossipsync lock exits with CMD's status (128 plus
the signal's number if a signal ended it). SIGINT and SIGTERM stop CMD
the same way (with the whole -grace), release the lock and leave the
cluster; a second one quits at once, and CMD is killed with the process
(on Linux; elsewhere it runs on), the lock ending with its TTL.

The command joins the cluster (-join, -key-file) as a short-lived member
that never votes (cluster.Config.NonVoter), so the lease lives in this
process: if it dies or is frozen, the lock ends with its TTL as any
holder's does, and nothing in an agent has to outlive it.

Exit status: CMD's, or 1 if CMD exited 0 after the lease was lost (it
may have run without the lock); 1 if the lock was not taken (-timeout,
which bounds the join too, elapsed; held with -timeout 0; no cluster);
2 on a usage error. While waiting without -timeout, a spell without a
quorum of the voters is waited out.

Flags:
`

// runLock is the lock command.
func runLock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, nf := clientFlags("lock", lockUsage, stderr)
	ttl := fs.Duration("ttl", lockmgr.DefaultTTL, "the lease's TTL: how long the lock outlives this process if it dies or freezes")
	timeout := fs.Duration("timeout", -1, "give up if the lock is not taken within this long (negative: wait until taken or interrupted; 0: try once)")
	slots := fs.Int("n", 1, "take one of this many slots of the semaphore ID instead of the lock ID")
	grace := fs.Duration("grace", 5*time.Second, "how long CMD has to exit after SIGTERM before it is killed")
	id, argv, code := parseCommandLine(fs, args, "ID", nil)
	if code >= 0 {
		return code
	}
	if *slots < 1 {
		return usageError(fs, "-n is %d; want at least 1", *slots)
	}
	if *ttl <= 0 || *grace < 0 {
		return usageError(fs, "-ttl must be positive and -grace not negative")
	}
	if err := nf.clientDefaults(fs); err != nil {
		return usageError(fs, "%v", err)
	}
	// -timeout bounds the join and the wait together; a try (0) still
	// gives the join its time.
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	switch {
	case *timeout > 0:
		tctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	case *timeout == 0:
		tctx, cancel = context.WithTimeout(ctx, tryJoinFor)
		defer cancel()
	}
	n, err := nf.open(tctx)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync lock: %v\n", err)
		return 1
	}
	defer leave(n, stderr)
	m, err := lockmgr.New(n)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync lock: %v\n", err)
		return 1
	}
	defer m.Close()
	l, err := takeLock(tctx, m, id, *slots, *timeout, stderr, lockmgr.TTL(*ttl))
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync lock: %s not taken: %v\n", id, err)
		return 1
	}
	env := []string{"GOSSIPSYNC_LOCK_ID=" + id, "GOSSIPSYNC_LOCK_TOKEN=" + strconv.FormatUint(l.Token(), 10)}
	if *slots > 1 {
		env = append(env, "GOSSIPSYNC_LOCK_SLOT="+strconv.Itoa(l.Slot()))
	}
	c := child{argv: argv, env: env, grace: *grace, lostGrace: lostGraceFor(*ttl, *grace), stdout: stdout, stderr: stderr}
	status, why, err := c.run(ctx, l.Done())
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	released := l.Release(rctx)
	lost := false
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "gossipsync lock: %v\n", err)
	case why == stoppedLost:
		lost = true
		fmt.Fprintf(stderr, "gossipsync lock: the lease of %s (token %d) was lost; %s was stopped\n", id, l.Token(), c.describe())
	case why != stoppedNot:
		fmt.Fprintf(stderr, "gossipsync lock: %s; %s was stopped and %s released\n", why, c.describe(), id)
	case released != nil && errors.Is(released, lockmgr.ErrLeaseExpired):
		lost = true
		fmt.Fprintf(stderr, "gossipsync lock: the lease of %s ran out before %s exited\n", id, c.describe())
	}
	if lost && status == 0 {
		return 1 // CMD may have run without the lock: not a success
	}
	return status
}

// tryJoinFor bounds the join of lock -timeout 0.
const tryJoinFor = 30 * time.Second

// takeLock takes the lock id, or a slot of the semaphore id, waiting
// until ctx ends (timeout < 0: until taken or interrupted, through
// spells without a quorum too; 0: trying once).
func takeLock(ctx context.Context, m *lockmgr.Manager, id string, slots int, timeout time.Duration, stderr io.Writer, opts ...lockmgr.AcquireOption) (*lockmgr.Lock, error) {
	if timeout == 0 {
		if slots > 1 {
			return m.TryAcquireSemaphore(ctx, id, slots, opts...)
		}
		return m.TryAcquire(ctx, id, opts...)
	}
	for {
		var l *lockmgr.Lock
		var err error
		if slots > 1 {
			l, err = m.AcquireSemaphore(ctx, id, slots, opts...)
		} else {
			l, err = m.Acquire(ctx, id, opts...)
		}
		if timeout > 0 || !errors.Is(err, lockmgr.ErrNoQuorum) || ctx.Err() != nil {
			return l, err
		}
		fmt.Fprintf(stderr, "gossipsync lock: %v; waiting on\n", err)
		t := time.NewTimer(time.Second)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// parseCommandLine parses flags and then "NAME [--] CMD [ARGS...]" (CMD
// optional if the flag optional points to is set once parsed). It
// returns the name and the command, or an exit code >= 0 when the
// command should stop there.
func parseCommandLine(fs *flag.FlagSet, args []string, name string, optional *bool) (string, []string, int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, 0
		}
		return "", nil, 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", nil, usageError(fs, "missing %s", name)
	}
	arg, argv := rest[0], rest[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 && (optional == nil || !*optional) {
		return "", nil, usageError(fs, "missing the command to run after %s", name)
	}
	return arg, argv, -1
}

// usageError prints a usage error and the usage, and returns 2.
func usageError(fs *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(fs.Output(), "gossipsync %s: %s\n\n", fs.Name(), fmt.Sprintf(format, a...))
	fs.Usage()
	return 2
}
