package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// joinTiming paces Join's attempts and the rejoining of a node that is
// alone, by profile. Like failure detection it runs on the time
// package: it bounds how soon a node finds the others, not what is
// safe.
type joinTiming struct {
	first, max time.Duration // the wait after the first failed attempt, doubled after each up to max
	attempt    time.Duration // bounds one attempt's lookups and greetings
	alone      time.Duration // alone this long, a node that joined joins its seeds again
}

func (p Profile) joinTiming() joinTiming {
	switch p {
	case Local:
		return joinTiming{first: 50 * time.Millisecond, max: time.Second, attempt: 2 * time.Second, alone: time.Second}
	case WAN:
		return joinTiming{first: 200 * time.Millisecond, max: 15 * time.Second, attempt: 10 * time.Second, alone: 30 * time.Second}
	}
	return joinTiming{first: 100 * time.Millisecond, max: 5 * time.Second, attempt: 5 * time.Second, alone: 5 * time.Second}
}

// backoff gives the waits between attempts: from first, doubling up to
// max, each drawn from the upper half of its value, so that nodes that
// started together do not try again in step. Not safe for concurrent
// use.
type backoff struct{ next, max time.Duration }

func (t joinTiming) backoff() *backoff { return &backoff{next: t.first, max: t.max} }

// wait returns the next wait.
func (b *backoff) wait() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.max)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d; it returns ctx's error if ctx ends first, and
// ErrClosed if the node closes.
func (n *Node) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.baseCtx.Done():
		return ErrClosed
	}
}

// joinSeeds makes attempts to join through seeds until one contacts a
// seed, waiting between them with backoff (see Join).
func (n *Node) joinSeeds(ctx context.Context, seeds []seed) (int, error) {
	b := n.cfg.Profile.joinTiming().backoff()
	var last attempt
	var lookupErr error // the last lookup error of any attempt
	for tries := 1; ; tries++ {
		a, err := n.joinOnce(ctx, seeds)
		if err == nil && a.contacted > 0 {
			return a.contacted, nil
		}
		if err == nil || len(a.failures) > 0 {
			last = a
		}
		if a.lookupErr != nil {
			lookupErr = a.lookupErr
		}
		if err == nil {
			n.log.Debug("join: no seed could be contacted; trying again", "attempt", tries, "why", strings.Join(a.failures, "; "))
			err = n.sleep(ctx, b.wait())
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return 0, gaveUp(ctx.Err(), tries, last, lookupErr)
		default: // a refusal, or the node closed
			return 0, err
		}
	}
}

// attempt is the outcome of one attempt to join.
type attempt struct {
	contacted int      // seed addresses contacted; 0 if none
	failures  []string // why seeds could not be contacted
	lookupErr error    // the attempt's last lookup error
}

// joinOnce looks the seeds up, greets every address but this node's own
// and joins the gossip through those that answered. An error is a
// refusal that waiting does not mend (ErrAuth, ErrDuplicateName,
// ErrClosed, the node left) or ctx's end; a seed that could not be
// contacted is not an error but a failure of the attempt.
func (n *Node) joinOnce(ctx context.Context, seeds []seed) (attempt, error) {
	if n.rejoinCtx.Err() != nil {
		if n.closed.Load() {
			return attempt{}, ErrClosed
		}
		return attempt{}, errors.New("cluster: join: the node has left the cluster")
	}
	timing := n.cfg.Profile.joinTiming()
	actx, cancel := context.WithTimeout(ctx, timing.attempt)
	defer cancel()
	res := resolveSeeds(actx, n.cfg.Resolver, seeds)
	if err := ctx.Err(); err != nil { // the lookups failed because ctx ended
		return attempt{}, err
	}
	a := attempt{failures: res.failures, lookupErr: res.lookupErr}
	targets := slices.DeleteFunc(slices.Clone(res.targets), func(t target) bool { return t.addr == n.addr })
	if len(targets) == 0 {
		if len(res.targets) > 0 {
			a.failures = append(a.failures, "the seeds name only this node ("+n.addr+")")
		}
		return a, nil
	}
	ok, errs, err := n.greetAll(actx, targets)
	a.failures = append(a.failures, errs...)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		a.failures = append(a.failures, fmt.Sprintf("no answer within %v", timing.attempt))
		return a, nil
	case err != nil:
		return a, err
	case len(ok) == 0:
		return a, nil
	}
	n.joinTried.Store(true)
	c, err := n.serfJoin(ctx, ok)
	switch {
	case err != nil && (ctx.Err() != nil || n.closed.Load()):
		return a, err
	case err != nil:
		a.failures = append(a.failures, err.Error())
	default:
		a.contacted = c
	}
	return a, nil
}

// joinError is Join's error when ctx ended before any seed could be
// contacted. It says why the last attempt failed and wraps ctx's error
// and the last lookup error.
type joinError struct {
	msg  string
	errs []error
}

func (e *joinError) Error() string   { return e.msg }
func (e *joinError) Unwrap() []error { return e.errs }

func gaveUp(cause error, tries int, last attempt, lookupErr error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: join: no seed could be contacted in %d attempt", tries)
	if tries > 1 {
		b.WriteString("s")
	}
	if len(last.failures) > 0 {
		fmt.Fprintf(&b, " (last: %s)", strings.Join(last.failures, "; "))
	}
	errs := []error{cause}
	if lookupErr != nil {
		errs = append(errs, lookupErr)
		if lookupErr != last.lookupErr {
			fmt.Fprintf(&b, "; last lookup error: %v", lookupErr)
		}
	}
	fmt.Fprintf(&b, ": %v", cause)
	return &joinError{msg: b.String(), errs: errs}
}
