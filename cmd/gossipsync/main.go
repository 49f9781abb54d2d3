// Command gossipsync is the command line of gossipsync.
//
//	gossipsync agent -name N -bind IP:PORT [-advertise IP:PORT] [-join SEED]... -key-file F [-expect K] [-voters K]
//	                 [-data-dir D] [-profile lan|wan|local] [-tag K=V]... [-log-level warn] [-http 127.0.0.1:8500]
//
// runs a node of a cluster with every primitive (a lock Manager, an
// Elector campaigning in the group "agent", a cluster clock, a task pool
// that runs "agent.ping", an event stream) until SIGINT or SIGTERM, then
// leaves the cluster gracefully and exits 0. It joins through the seeds
// of -join (repeatable or comma-separated, its own address allowed),
// trying again every second until one answers; without -join it starts a
// new cluster. The key file holds the cluster's 16, 24 or 32-byte key as
// hex or base64 text, or raw. On -http (no authentication: keep it on
// loopback or a trusted network) it serves GET /healthz (200 "ok" while
// running and joined, else 503 and the reason), GET /v1/status (JSON:
// see Status for its shape), GET /ui (a self-contained page that shows
// /v1/status, refreshed every 2 s; / redirects there) and GET /metrics
// (Prometheus: the node's and its primitives' figures, listed in package
// metrics, memberlist's and serf's, the Go runtime's and the process's).
//
//	gossipsync lock [-ttl 10s] [-timeout D] [-n K] [-grace 5s] -join SEED -key-file F ID -- CMD [ARGS...]
//
// takes the lock ID (or, with -n, one of the K slots of the semaphore
// ID) and runs CMD while it holds it, with GOSSIPSYNC_LOCK_ID and
// GOSSIPSYNC_LOCK_TOKEN (the fencing token; GOSSIPSYNC_LOCK_SLOT with -n)
// in its environment; when the lease is lost, CMD gets SIGTERM, and
// SIGKILL after the grace period; when CMD exits the lock is released
// and the command exits with CMD's status. -timeout 0 tries once.
//
//	gossipsync elect [-ttl D] [-priority P] [-grace 5s] -join SEED -key-file F GROUP -- CMD [ARGS...]
//	gossipsync elect -listen -join SEED -key-file F GROUP
//
// campaigns in the election group GROUP and runs CMD while it leads,
// with GOSSIPSYNC_TERM (a fencing token) in its environment; CMD is
// stopped when the lease is revoked, and runs again when the process
// leads again. -listen prints each new leader and term.
//
// The lock and elect commands join the cluster as short-lived members
// that never vote (cluster.Config.NonVoter), rather than asking a local
// agent: the lease then lives in the process that runs CMD, so a crash or
// freeze of that process ends it with its TTL as it would in a library
// user's service, no agent has to track sessions for a client, and the
// commands work wherever a seed and the key are, agent or not.
// SIGINT and SIGTERM stop CMD, release the lock or resign, and leave the
// cluster.
//
//	gossipsync members [-http 127.0.0.1:8500]
//	gossipsync status [-http 127.0.0.1:8500]
//
// read an agent's /v1/status and print the members (name, address,
// state, role), or the node, voters, election leaders, held locks
// (holder, fencing token, remaining hold) and clock.
//
//	gossipsync sim [-scenario all] [-nodes 5] [-duration 30s] [-seed 1] [-skew 5s] [-drift 200] [-unsafe] [-disk] [-json file] [-html file] [-v]
//	gossipsync sim -list
//
// runs a seeded chaos simulation of a cluster on an in-memory network: on
// every node an election campaign, a clock on a skewed, drifting physical
// clock, lock clients writing through a Fence and task submitters, while
// the faults of a scenario (partition, crash, pause, skew, loss, churn or
// all) are made one per phase. It prints how fast the cluster answered
// each fault, then one table with the verdict of every property (held,
// BROKEN or not exercised) and the figures behind it, and exits 1 if any
// is broken. The same seed replays the same schedule; -json writes the
// report as JSON and -html draws a timeline of the run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is a subcommand: run gets the arguments after its name and
// returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"agent", "run a node with every primitive and serve its status over HTTP", runAgent},
	{"lock", "run a command while holding a lock (or a semaphore slot)", runLock},
	{"elect", "run a command while leading an election group, or -listen", runElect},
	{"members", "print the members of the cluster, as a running agent sees them", runMembers},
	{"status", "print the voters, leaders, locks and clock, as a running agent sees them", runStatus},
	{"sim", "run a seeded chaos simulation on an in-memory network and report", runSim},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C quits at once
		fmt.Fprintln(os.Stderr, "gossipsync: interrupted; finishing up (Ctrl-C again to quit at once)")
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status: 0 on
// success, 1 when the command failed, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(ctx, rest, stdout, stderr)
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "gossipsync: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return cmd.run(ctx, rest, stdout, stderr)
}

// help prints the usage, or a command's with "help <command>".
func help(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	if cmd, ok := lookup(args[0]); ok {
		return cmd.run(ctx, []string{"-h"}, stdout, stdout)
	}
	fmt.Fprintf(stderr, "gossipsync: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// newFlagSet returns the flag set of the command name: errors and the
// usage (usage, then the flags) go to stderr.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, "gossipsync: locks, leader election, tasks and time for Go services, by gossip.\n\n")
	fmt.Fprint(w, "usage: gossipsync <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "help", "print this help, or a command's: gossipsync help agent")
}
