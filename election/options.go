package election

import (
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// Sentinel errors of the election package; test with errors.Is. They keep
// their identity across RPC.
var (
	// ErrNoLeader is returned by Leader when no candidate holds a lease.
	ErrNoLeader = errors.New("election: no leader")
	// ErrNoQuorum is wrapped, with ctx's error, by an Elect whose ctx
	// ended while this node could not reach a majority of the quorum
	// basis.
	ErrNoQuorum = errors.New("election: no quorum")
	// ErrClosed is returned by calls on a closed Elector.
	ErrClosed = errors.New("election: elector closed")
	// ErrRevoked is the cause (context.Cause) of an Elected's Context
	// once its lease ended: revoked, resigned or run out.
	ErrRevoked = errors.New("election: lease revoked")
)

func init() {
	cluster.RegisterError("election.no_leader", ErrNoLeader)
	cluster.RegisterError("election.no_quorum", ErrNoQuorum)
	cluster.RegisterError("election.closed", ErrClosed)
}

// DefaultGroup is the group of an Elector made without the Group option.
const DefaultGroup = "default"

// Option configures an Elector.
type Option func(*options) error

type options struct {
	group     string
	priority  int
	ttl       time.Duration
	noPreempt bool
}

// Group names the election group; default "default". Groups are
// independent: each has its own leader.
func Group(name string) Option {
	return func(o *options) error {
		if name == "" || len(name) > 128 {
			return fmt.Errorf("election: Group %q: want 1 to 128 characters", name)
		}
		o.group = name
		return nil
	}
}

// Priority sets this node's candidates' priority: among live candidates
// the highest priority leads, ties broken by the higher node name, then
// the higher candidate id. Default 0.
func Priority(p int) Option {
	return func(o *options) error {
		o.priority = p
		return nil
	}
}

// NoPreempt makes this Elector's candidates leave a live leader alone
// even when they rank above it: they wait for its lease to end. Bully
// order then decides only who takes over; not even a claim that races
// with the winner's (both found no lease) deposes it. Use it where
// changing leader has a cost (the clock's time reference uses it).
func NoPreempt() Option {
	return func(o *options) error {
		o.noPreempt = true
		return nil
	}
}

// LeaseTTL sets the leader lease. The default follows the cluster
// profile: 1 s on Local, 5 s on LAN, 15 s on WAN. It must be at least
// 50 ms. Every Elector of a group should use the same TTL.
func LeaseTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < 50*time.Millisecond {
			return fmt.Errorf("election: LeaseTTL %v: want at least 50ms", d)
		}
		o.ttl = d
		return nil
	}
}

// DefaultLeaseTTL returns the lease used when LeaseTTL is not given.
func DefaultLeaseTTL(p cluster.Profile) time.Duration { return defaultTTL(p) }

func defaultTTL(p cluster.Profile) time.Duration {
	switch p {
	case cluster.Local:
		return time.Second
	case cluster.WAN:
		return 15 * time.Second
	default:
		return 5 * time.Second
	}
}
