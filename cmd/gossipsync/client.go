package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
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
	fs := newFlagSet(name, usage, stderr)
	nf := new(nodeFlags)
	nf.registerClient(fs)
	return fs, nf
}

// registerClient registers the node flags of a short-lived member on fs.
func (f *nodeFlags) registerClient(fs *flag.FlagSet) {
	f.register(fs)
	bind := fs.Lookup("bind")
	bind.Value.Set("0.0.0.0:0")
	bind.DefValue = "" // the usage says it
	bind.Usage = "the `ip:port` to gossip and serve RPC on (default: any port on the address this host reaches the first seed from)"
	fs.Lookup("join").Usage = "`ip:port` of a member to join through (also dns+host:port, dnssrv+name); repeatable or comma-separated (default: $" + envJoin + ")"
	fs.Lookup("key-file").Usage = "`file` holding the cluster's secret key (default: $" + envKeyFile + ", or none: an open cluster)"
	f.nonVoter = true
}

// clientDefaults fills the seeds and the key file from the environment
// and checks what a short-lived member needs, once the flags of fs are
// parsed. Without -bind, it binds the address this host reaches the
// first seed from (a loopback seed: loopback), so that the cluster can
// reach it back; "0.0.0.0:0" (and a private IP advertised) if that
// cannot be told.
func (f *nodeFlags) clientDefaults(fs *flag.FlagSet) error {
	defer func() {
		if !flagSet(fs, "bind") && len(f.join) > 0 {
			if ip, ok := routeTo(f.join[0]); ok {
				f.bind = net.JoinHostPort(ip.String(), "0")
			}
		}
	}()
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

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// routeTo returns the local IP this host sends from to the seed, a
// plain "ip:port", "ip" or "dns+host[:port]" (looked up); false for an
// SRV seed or when there is no route.
func routeTo(seed string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(strings.TrimPrefix(seed, "dns+"))
	if err != nil {
		host = strings.TrimPrefix(seed, "dns+")
	}
	if strings.HasPrefix(seed, "dnssrv+") || host == "" {
		return netip.Addr{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	// A UDP "dial" sends nothing: it only asks the kernel for a route.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), 7946)))
	if err != nil {
		return netip.Addr{}, false
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), true
}
