package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newResolvedNode starts a Local-profile node with testKey on bind that
// looks seeds up with r, closed at cleanup.
func newResolvedNode(t *testing.T, name, bind string, r Resolver) *Node {
	t.Helper()
	n, err := New(Config{Name: name, BindAddr: bind, SecretKey: testKey, Profile: Local, Resolver: r})
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nodesOnOnePort starts a node per loopback IP, all on one port, as the
// pods behind a DNS name are, and returns them and the port.
func nodesOnOnePort(t *testing.T, ips ...string) ([]*Node, int) {
	t.Helper()
	for range 20 {
		first := newResolvedNode(t, "p-"+ips[0], ips[0]+":0", nil)
		_, port, _ := splitAddr(first.Addr())
		nodes := []*Node{first}
		for _, ip := range ips[1:] {
			n, err := New(Config{Name: "p-" + ip, BindAddr: fmt.Sprintf("%s:%d", ip, port), SecretKey: testKey, Profile: Local})
			if errors.Is(err, syscall.EADDRINUSE) {
				break
			}
			if err != nil {
				t.Fatalf("New on %s:%d: %v", ip, port, err)
			}
			t.Cleanup(func() { n.Close() })
			nodes = append(nodes, n)
		}
		if len(nodes) == len(ips) {
			return nodes, port
		}
		for _, n := range nodes {
			n.Close()
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return nil, 0
}

// port returns the port of n's address.
func port(n *Node) int {
	_, p, _ := splitAddr(n.Addr())
	return p
}

// Join contacts every address that the DNS seeds give: in each case
// the one live member is behind the last address of a name, or mixed
// with a plain seed, and the joiner must reach it.
func TestJoinDNSSeeds(t *testing.T) {
	pods, podPort := nodesOnOnePort(t, "127.0.0.2", "127.0.0.3")
	other := newTestNode(t, "other", testKey)
	members := append(pods, other)
	for _, n := range members[1:] {
		if _, err := n.Join(context.Background(), pods[0].Addr()); err != nil {
			t.Fatalf("%s joins: %v", n.Name(), err)
		}
	}
	waitFor(t, 10*time.Second, "the cluster to form", func() bool { return allSee(members, names(members...)) })
	pods[0].Close() // from here only 127.0.0.3 answers on podPort
	members = members[1:]
	waitFor(t, 10*time.Second, pods[0].Name()+" to be seen failed", func() bool { return allSee(members, names(members...)) })

	r := newFakeResolver()
	// A and AAAA: 127.0.0.2 is down and nothing listens on ::1.
	r.setIPs("pods.svc", "127.0.0.2", "::1", "127.0.0.3")
	// SRV: a target without address, a dead port, then a target whose
	// second address is live.
	r.setSRV("_gossip._tcp.svc", "gone.svc:7946", fmt.Sprintf("pods.svc:%d", port(other)), fmt.Sprintf("mixed.svc:%d", podPort))
	r.setIPs("mixed.svc", "127.0.0.9", "127.0.0.3")
	r.setIPs("other.svc", "127.0.0.1")
	tests := []struct {
		name  string
		seeds []string
	}{
		{"A and AAAA records", []string{fmt.Sprintf("dns+pods.svc:%d", podPort)}},
		{"SRV records", []string{"dnssrv+_gossip._tcp.svc"}},
		{"plain and DNS seeds", []string{"127.0.0.9:1", fmt.Sprintf("dns+other.svc:%d", port(other)), pods[0].Addr()}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newResolvedNode(t, fmt.Sprintf("j%d", i), "127.0.0.1:0", r)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := j.Join(ctx, tt.seeds...)
			if err != nil || c < 1 {
				t.Fatalf("Join(%q) = %d, %v; want at least 1 contacted", tt.seeds, c, err)
			}
			all := append(members[:len(members):len(members)], j)
			waitFor(t, 10*time.Second, "the joiner to see all", func() bool { return allSee(all, names(all...)) })
			j.Leave(ctx)
		})
	}
}

// A node started before its peers waits for them: Join tries again,
// looking the names up again, while a name has no address yet, and
// while nobody answers at the address it has.
func TestJoinWaitsForSeeds(t *testing.T) {
	tests := []struct {
		name   string
		before func(r *fakeResolver, ip string) // the records before the seed is up
	}{
		{"no address yet", func(r *fakeResolver, _ string) { r.setIPs("late.svc") }},
		{"NXDOMAIN", func(*fakeResolver, string) {}},
		{"nobody listening yet", func(r *fakeResolver, ip string) { r.setIPs("late.svc", ip) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			ip, seedPort, _ := splitAddr(addr)
			r := newFakeResolver()
			tt.before(r, ip)
			j := newResolvedNode(t, fmt.Sprintf("j%d", i), "127.0.0.1:0", r)
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := j.Join(ctx, fmt.Sprintf("dns+late.svc:%d", seedPort))
				done <- err
			}()
			waitFor(t, 10*time.Second, "three lookups", func() bool { return r.count() >= 3 })
			select {
			case err := <-done:
				t.Fatalf("Join returned %v before its seed was up", err)
			default:
			}
			seed := newNodeOn(t, addr)
			r.setIPs("late.svc", ip)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Join = %v, want success once the seed is up", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Join still waiting 20 s after its seed came up")
			}
			waitFor(t, 10*time.Second, "both to see each other", func() bool { return allSee([]*Node{j, seed}, names(j, seed)) })
		})
	}
}

// A malformed seed fails Join at once, naming it, before any lookup.
func TestJoinBadSeed(t *testing.T) {
	r := newFakeResolver()
	n := newResolvedNode(t, "n", "127.0.0.1:0", r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, seeds := range [][]string{
		{"dns+ok.svc:1", "gossip.svc:7946"},
		{"127.0.0.1:1", "dnssrv+_g._tcp.svc:80"},
		{"srv+_g._tcp.svc"},
	} {
		_, err := n.Join(ctx, seeds...)
		if !errors.Is(err, ErrBadSeed) || !strings.Contains(err.Error(), fmt.Sprintf("%q", seeds[len(seeds)-1])) {
			t.Errorf("Join(%q) = %v; want ErrBadSeed naming %q", seeds, err, seeds[len(seeds)-1])
		}
	}
	if c := r.count(); c != 0 {
		t.Errorf("%d lookups, want none for a Join with a malformed seed", c)
	}
	if n.JoinPending() {
		t.Error("JoinPending after Joins refused for a malformed seed")
	}
}

// When ctx ends, Join's error wraps it and the last lookup error, and
// names the seed whose lookup failed, even if later attempts failed for
// another reason.
func TestJoinReportsLookupError(t *testing.T) {
	misbehaving := &net.DNSError{Err: "server misbehaving", Name: "broken.svc", IsTemporary: true}
	tests := []struct {
		name  string
		later func(r *fakeResolver) // after two lookups
		want  []string              // in the error
	}{
		{"every lookup fails", func(*fakeResolver) {}, []string{"dns+broken.svc:1: lookup broken.svc: server misbehaving"}},
		{"later a dead address", func(r *fakeResolver) {
			r.setErr("broken.svc", nil)
			r.setIPs("broken.svc", "127.0.0.9")
		}, []string{"last lookup error: dns+broken.svc:1: lookup broken.svc: server misbehaving", "(127.0.0.9:1): "}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeResolver()
			r.setErr("broken.svc", misbehaving)
			n := newResolvedNode(t, fmt.Sprintf("n%d", i), "127.0.0.1:0", r)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { // not the test's goroutine: no t.Fatal here
				defer cancel()
				if !poll(10*time.Second, func() bool { return r.count() >= 2 }) {
					return
				}
				tt.later(r)
				n0 := r.count()
				poll(10*time.Second, func() bool { return r.count() >= n0+2 })
			}()
			_, err := n.Join(ctx, "dns+broken.svc:1")
			var dnsErr *net.DNSError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &dnsErr) || dnsErr.Err != "server misbehaving" {
				t.Fatalf("Join = %v; want an error wrapping context.Canceled and the lookup error", err)
			}
			t.Logf("Join: %v", err)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Join error %q does not say %q", err, want)
				}
			}
		})
	}
}

// Seeds that name only the joining node are no cluster to join: Join
// waits, and says so when ctx ends.
func TestJoinSelfOnly(t *testing.T) {
	r := newFakeResolver()
	n := newResolvedNode(t, "n", "127.0.0.1:0", r)
	r.setIPs("self.svc", "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := n.Join(ctx, n.Addr(), fmt.Sprintf("dns+self.svc:%d", port(n)))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "only this node") {
		t.Fatalf("Join through itself = %v; want a deadline error saying the seeds name only this node", err)
	}
}

// Close ends a Join that is waiting for its seeds.
func TestCloseEndsWaitingJoin(t *testing.T) {
	r := newFakeResolver()
	n := newResolvedNode(t, "n", "127.0.0.1:0", r)
	done := make(chan error, 1)
	go func() {
		_, err := n.Join(context.Background(), "dns+nobody.svc:1")
		done <- err
	}()
	waitFor(t, 10*time.Second, "two lookups", func() bool { return r.count() >= 2 })
	n.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Join = %v after Close, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Join still waiting 10 s after Close")
	}
}

// poll reports whether cond held within timeout, checking it every few
// milliseconds; for goroutines other than the test's, which must not
// call t.Fatal.
func poll(timeout time.Duration, cond func() bool) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(timeout); !cond(); <-tick.C {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
