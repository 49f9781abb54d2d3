package lockmgr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
)

// Sentinel errors of the lockmgr package; test with errors.Is. They keep
// their identity across RPC.
var (
	// ErrLocked is returned by TryAcquire when the id is held or queued.
	ErrLocked = errors.New("lockmgr: locked")
	// ErrTimeout is returned by Acquire when its Wait elapsed first. It
	// matches context.DeadlineExceeded too (errors.Is), as the error of
	// a ctx deadline does: Wait(d) is a deadline d after the call.
	ErrTimeout error = waitTimeout("lockmgr: wait timed out")
	// ErrNoQuorum is returned, in quorum mode, by a node that sees fewer
	// alive members than a majority of the quorum basis.
	ErrNoQuorum = errors.New("lockmgr: no quorum")
	// ErrNotHeld is returned by Release when the lock is not held: it was
	// released before, or its lease expired (then the error is also
	// ErrLeaseExpired).
	ErrNotHeld = errors.New("lockmgr: lock not held")
	// ErrLeaseExpired is returned by Release, and is the cause of the
	// Lock's Context, when the lease ran out (or the voters refused a
	// renewal) before the release: whatever was done under the lock
	// since may have overlapped another holder. It matches ErrNotHeld
	// too (errors.Is).
	ErrLeaseExpired error = notHeld("lockmgr: lease expired")
	// ErrStaleToken is returned by Fence.Check for an outdated token.
	ErrStaleToken = errors.New("lockmgr: stale fencing token")
	// ErrClosed is returned by calls on a closed Manager.
	ErrClosed = errors.New("lockmgr: manager closed")
)

// waitTimeout is an error that is also context.DeadlineExceeded.
type waitTimeout string

func (e waitTimeout) Error() string        { return string(e) }
func (e waitTimeout) Is(target error) bool { return target == context.DeadlineExceeded }
func (e waitTimeout) Timeout() bool        { return true }

// notHeld is an error that is also ErrNotHeld.
type notHeld string

func (e notHeld) Error() string        { return string(e) }
func (e notHeld) Is(target error) bool { return target == ErrNotHeld }

func init() {
	cluster.RegisterError("lockmgr.locked", ErrLocked)
	cluster.RegisterError("lockmgr.timeout", ErrTimeout)
	cluster.RegisterError("lockmgr.no_quorum", ErrNoQuorum)
	cluster.RegisterError("lockmgr.not_held", ErrNotHeld)
	cluster.RegisterError("lockmgr.stale_token", ErrStaleToken)
	cluster.RegisterError("lockmgr.closed", ErrClosed)
	cluster.RegisterError("lockmgr.busy", errBusy)
}

// Limits and defaults.
const (
	DefaultTTL       = 10 * time.Second
	MinTTL           = 100 * time.Millisecond
	MaxTTL           = 10 * time.Minute
	DefaultLockDelay = DefaultTTL + DefaultTTL/4 // holdFor(DefaultTTL)
	DefaultReplicas  = 3
	MaxIDLen         = 256 // bytes
	vnodes           = 64  // ring points per member
)

// Option configures a Manager.
type Option func(*options) error

type options struct {
	replicas  int
	quorum    bool
	lockDelay time.Duration
	clock     *clock.Clock
}

// Replicas sets how many ring successors of an id (the owner first) take
// part in its grants when Quorum is off; default 3. In quorum mode every
// member takes part and Replicas is unused.
func Replicas(r int) Option {
	return func(o *options) error {
		if r < 1 {
			return fmt.Errorf("lockmgr: Replicas %d: want at least 1", r)
		}
		o.replicas = r
		return nil
	}
}

// Quorum turns quorum mode on (the default) or off. Off, an id's grants
// need only a majority of its Replicas ring successors among the members
// a node sees: locks stay available on both sides of a partition, and
// are then NOT exclusive. See the package doc.
func Quorum(on bool) Option {
	return func(o *options) error {
		o.quorum = on
		return nil
	}
}

// LockDelay bounds the TTL: a TTL with TTL+TTL/4 > LockDelay is refused
// by Acquire. It is also how long an operator waits after losing a
// majority of the voters before restarting the cluster (the package
// doc's hazards); nothing waits for it in the library: there is no quiet
// period. Default 12.5 s; at least 125 ms.
func LockDelay(d time.Duration) Option {
	return func(o *options) error {
		if d < holdFor(MinTTL) {
			return fmt.Errorf("lockmgr: LockDelay %v: want at least %v", d, holdFor(MinTTL))
		}
		o.lockDelay = d
		return nil
	}
}

// Clock makes Lock.GrantedAt report the cluster time of each grant.
// Tokens do not depend on it.
func Clock(c *clock.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("lockmgr: Clock: nil clock")
		}
		o.clock = c
		return nil
	}
}

// WithClock is Clock.
//
// Deprecated: options are named without a With prefix across the
// packages (election.Group, lockmgr.TTL); use Clock.
func WithClock(c *clock.Clock) Option { return Clock(c) }

// AcquireOption configures one Acquire or TryAcquire.
type AcquireOption func(*acqOptions) error

type acqOptions struct {
	ttl  time.Duration
	wait time.Duration // 0 = no limit but ctx
}

// TTL sets the lease, renewed in the background while the lock is held;
// default 10 s, allowed 100 ms to 10 min, and at most LockDelay/1.25.
func TTL(d time.Duration) AcquireOption {
	return func(o *acqOptions) error {
		if d < MinTTL || d > MaxTTL {
			return fmt.Errorf("lockmgr: TTL %v: want %v to %v", d, MinTTL, MaxTTL)
		}
		o.ttl = d
		return nil
	}
}

// Wait makes Acquire give up with ErrTimeout after d (> 0): the same as
// a ctx whose deadline is d after the call (the seed's name for it), and
// ErrTimeout matches context.DeadlineExceeded.
func Wait(d time.Duration) AcquireOption {
	return func(o *acqOptions) error {
		if d <= 0 {
			return fmt.Errorf("lockmgr: Wait %v: want a positive duration", d)
		}
		o.wait = d
		return nil
	}
}

// holdFor is how long the voters hold a grant after they apply a claim
// or renewal for a lease of ttl: the holder counts ttl from before it sent
// the request, and the extra quarter covers clock-rate drift.
func holdFor(ttl time.Duration) time.Duration { return ttl + ttl/4 }

func checkID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("lockmgr: id %.40q: want 1 to %d bytes", id, MaxIDLen)
	}
	return nil
}
