package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gossipsync/gossipsync/election"
)

const electUsage = `usage: gossipsync elect [flags] GROUP -- CMD [ARGS...]
       gossipsync elect -listen [flags] GROUP

Campaigns in the election group GROUP and runs CMD while this process
leads, like etcdctl elect. CMD runs with GOSSIPSYNC_ELECTION_GROUP,
GOSSIPSYNC_LEADER_ID and GOSSIPSYNC_TERM (the term: a fencing token for
what only the leader may write) in its environment. When the lease is
revoked (the voters cannot be reached, or a candidate of higher -priority
takes over), CMD gets SIGTERM, and SIGKILL if it has not exited after
-grace or an eighth of the lease, whichever is shorter (another candidate
may lead a quarter lease after this one's ended); the process then
campaigns again and runs CMD anew when it wins.
When CMD exits by itself, the process resigns (the next candidate leads
within a round trip) and exits with CMD's status. SIGINT and SIGTERM stop
CMD the same way (with the whole -grace), resign and leave the cluster; a
second one quits at once, and CMD is killed with the process (on Linux).

With -listen it campaigns for nothing: it prints the group's leader at
once and each change as this process sees it ("leader NODE id ID term N",
or "no leader"), until interrupted.

Like gossipsync lock, it joins the cluster (-join, -key-file) as a
short-lived member that never votes, so the lease lives in this process.

Exit status: CMD's (128 plus the signal's number if a signal ended it);
0 when interrupted while not leading; 1 if the cluster cannot be joined;
2 on a usage error.

Flags:
`

// runElect is the elect command.
func runElect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, nf := clientFlags("elect", electUsage, stderr)
	listen := fs.Bool("listen", false, "print each new leader and term instead of campaigning")
	id := fs.String("id", "", "this candidate's ID, shown as the leader's (default: the node's name)")
	ttl := fs.Duration("ttl", 0, "the leader's lease TTL (default: the election's default for the profile)")
	prio := fs.Int("priority", 0, "candidates of higher priority lead first")
	grace := fs.Duration("grace", 5*time.Second, "how long CMD has to exit after SIGTERM before it is killed")
	group, argv, code := parseCommandLine(fs, args, "GROUP", listen)
	if code >= 0 {
		return code
	}
	if *listen && len(argv) > 0 {
		return usageError(fs, "-listen runs no command")
	}
	if *ttl < 0 || *grace < 0 {
		return usageError(fs, "-ttl and -grace must not be negative")
	}
	if err := nf.clientDefaults(fs); err != nil {
		return usageError(fs, "%v", err)
	}
	n, err := nf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync elect: %v\n", err)
		return 1
	}
	defer leave(n, stderr)
	opts := []election.Option{election.Group(group), election.Priority(*prio)}
	if *ttl > 0 {
		opts = append(opts, election.LeaseTTL(*ttl))
	}
	e, err := election.New(n, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "gossipsync elect: %v\n", err)
		return 1
	}
	defer e.Close()
	if *listen {
		for l := range e.Follow(ctx) {
			if l.ID == "" {
				fmt.Fprintln(stdout, "no leader")
			} else {
				fmt.Fprintf(stdout, "leader %s id %s term %d\n", l.Node, l.ID, l.Term)
			}
		}
		return 0
	}
	if *id == "" {
		*id = n.Name()
	}
	lease := *ttl
	if lease == 0 {
		lease = election.DefaultLeaseTTL(n.Profile())
	}
	c := child{argv: argv, grace: *grace, lostGrace: lostGraceFor(lease, *grace), stdout: stdout, stderr: stderr}
	for {
		el, err := e.Elect(ctx, *id)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintf(stderr, "gossipsync elect: %v\n", err)
			return 1
		}
		c.env = []string{"GOSSIPSYNC_ELECTION_GROUP=" + group, "GOSSIPSYNC_LEADER_ID=" + *id, "GOSSIPSYNC_TERM=" + strconv.FormatUint(el.Term(), 10)}
		status, why, err := c.run(ctx, el.Revoked())
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		el.Resign(rctx)
		cancel()
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "gossipsync elect: %v\n", err)
			return status
		case why == stoppedLost:
			fmt.Fprintf(stderr, "gossipsync elect: the lease of term %d was revoked; %s was stopped; campaigning again\n", el.Term(), c.describe())
			continue
		case why != stoppedNot:
			fmt.Fprintf(stderr, "gossipsync elect: %s; %s was stopped\n", why, c.describe())
		}
		return status
	}
}
