package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// The lock and elect commands join a cluster as short-lived non-voting
// members (see the package doc). Their node flags are an agent's, with
// defaults for a client: any free port, and the seeds and key file from
// the environment, so that a script sets them once.
const (
	envJoin    = "GOSSIPSYNC_JOIN"     // seeds, comma-separated, when -join is not given
	envKeyFile = "GOSSIPSYNC_KEY_FILE" // the key file, when -key-file is not given
)

// clientFlags returns the flag set of the command name, whose usage
// starts with usage, with the node flags of a short-lived member.
func clientFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *nodeFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	nf := new(nodeFlags)
	nf.registerClient(fs)
	return fs, nf
}

// registerClient registers the node flags of a short-lived member on fs.
func (f *nodeFlags) registerClient(fs *flag.FlagSet) {
	f.register(fs)
	bind := fs.Lookup("bind")
	bind.DefValue = "0.0.0.0:0"
	bind.Value.Set(bind.DefValue)
	fs.Lookup("join").Usage = "`ip:port` of a member to join through (also dns+host:port, dnssrv+name); repeatable or comma-separated (default: $" + envJoin + ")"
	fs.Lookup("key-file").Usage = "`file` holding the cluster's secret key (default: $" + envKeyFile + ", or none: an open cluster)"
	f.nonVoter = true
}

// clientDefaults fills the seeds and the key file from the environment
// and checks what a short-lived member needs, once the flags are parsed.
func (f *nodeFlags) clientDefaults() error {
	if len(f.join) == 0 {
		if v := os.Getenv(envJoin); v != "" {
			f.join.Set(v)
		}
	}
	if f.keyFile == "" {
		f.keyFile = os.Getenv(envKeyFile)
	}
	switch {
	case len(f.join) == 0:
		return errors.New("no seed to join: give -join (or set " + envJoin + ") with a member of the cluster, such as an agent")
	case f.dataDir != "":
		return errors.New("-data-dir: a member that never votes keeps no state")
	}
	return nil
}

// leave leaves the cluster gracefully, so that the others see a leave,
// not a failure, and closes the node.
func leave(n *cluster.Node, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Leave(ctx); err != nil {
		fmt.Fprintf(stderr, "gossipsync: leave: %v\n", err)
	}
	n.Close()
}
