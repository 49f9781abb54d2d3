package cluster

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers lookups from its tables; a name in neither is
// NXDOMAIN. Safe for concurrent use.
type fakeResolver struct {
	mu      sync.Mutex // protects the fields below
	ips     map[string][]netip.Addr
	srvs    map[string][]*net.SRV
	errs    map[string]error // returned for the name, before the tables
	lookups int
}

var _ Resolver = (*fakeResolver)(nil)

func newFakeResolver() *fakeResolver {
	return &fakeResolver{ips: map[string][]netip.Addr{}, srvs: map[string][]*net.SRV{}, errs: map[string]error{}}
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if network != "ip" {
		return nil, errors.New("fake resolver: network " + network)
	}
	if err := f.errs[host]; err != nil {
		return nil, err
	}
	ips, ok := f.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return slices.Clone(ips), nil
}

func (f *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if service != "" || proto != "" {
		return "", nil, errors.New("fake resolver: want the name looked up as given")
	}
	if err := f.errs[name]; err != nil {
		return "", nil, err
	}
	srvs, ok := f.srvs[name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, slices.Clone(srvs), nil
}

// setIPs sets host's A and AAAA records.
func (f *fakeResolver) setIPs(host string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips[host] = nil
	for _, ip := range ips {
		f.ips[host] = append(f.ips[host], netip.MustParseAddr(ip))
	}
}

// setSRV sets name's SRV records, each "target:port".
func (f *fakeResolver) setSRV(name string, targets ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.srvs[name] = nil
	for _, t := range targets {
		host, port, err := splitAddr(t)
		if err != nil {
			panic(err)
		}
		f.srvs[name] = append(f.srvs[name], &net.SRV{Target: host, Port: uint16(port), Priority: 10, Weight: 5})
	}
}

func (f *fakeResolver) setErr(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[name] = err
}

func (f *fakeResolver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func TestParseSeed(t *testing.T) {
	tests := []struct {
		seed    string
		want    string // the canonical form; "" = malformed
		wantErr string // in the error of a malformed seed
	}{
		{"10.0.0.1:7000", "10.0.0.1:7000", ""},
		{"10.0.0.1", "10.0.0.1:7946", ""},
		{"localhost:5", "127.0.0.1:5", ""},
		{"[::1]:7000", "[::1]:7000", ""},
		{"::1", "[::1]:7946", ""},
		{"[::1]", "[::1]:7946", ""},
		{"::ffff:10.0.0.1", "10.0.0.1:7946", ""},
		{"dns+gossip.ns.svc.cluster.local:7946", "dns+gossip.ns.svc.cluster.local:7946", ""},
		{"dns+gossip", "dns+gossip:7946", ""},
		{"dns+gossip.example.", "dns+gossip.example.:7946", ""},
		{"dns+10.0.0.1:80", "dns+10.0.0.1:80", ""},
		{"dns+[::1]:80", "dns+[::1]:80", ""},
		{"dnssrv+_gossip._tcp.svc.ns.svc.cluster.local", "dnssrv+_gossip._tcp.svc.ns.svc.cluster.local", ""},
		{"gossip.example:7946", "", `write "dns+gossip.example:7946"`},
		{"not an address", "", "must be an IP address"},
		{"", "", "no host"},
		{":7946", "", "no host"},
		{"10.0.0.1:0", "", "port"},
		{"10.0.0.1:65536", "", "port"},
		{"10.0.0.1:x", "", "port"},
		{"10.0.0.1:", "", "port"},
		{"fe80::1%eth0", "", "must be an IP address"},
		{"dns+", "", "no host"},
		{"dns+:80", "", "no host"},
		{"dns+a..b:80", "", "label"},
		{"dns+a b:80", "", "not allowed"},
		{"dns+" + strings.Repeat("a", 64) + ":80", "", "label"},
		{"dns+" + strings.Repeat("a.", 127) + "a:80", "", "1 to 253 bytes"},
		{"dnssrv+", "", "DNS name"},
		{"dnssrv+_g._tcp.svc:7946", "", "takes no port"},
		{"dnssrv+_g._tcp/svc", "", "not allowed"},
		{"dnssrvnoa+_g._tcp.svc", "", `unknown prefix "dnssrvnoa+"`},
		{"DNS+gossip:7946", "", `unknown prefix "DNS+"`},
		{strings.Repeat("1", maxSeedLen+1), "", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.seed, func(t *testing.T) {
			sd, err := parseSeed(tt.seed)
			if tt.want != "" {
				if err != nil || sd.String() != tt.want {
					t.Fatalf("parseSeed(%q) = %v, %v; want %s", tt.seed, sd, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrBadSeed) {
				t.Fatalf("parseSeed(%q) = %v, %v; want ErrBadSeed", tt.seed, sd, err)
			}
			if msg := err.Error(); !strings.Contains(msg, strconv.Quote(tt.seed)) || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("parseSeed(%q) error %q: want it to name the seed and say %q", tt.seed, msg, tt.wantErr)
			}
		})
	}
}

// FuzzParseSeed: a seed is rejected with ErrBadSeed or parsed into a
// form whose canonical text parses back to itself, of the kind its
// prefix says.
func FuzzParseSeed(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1:7000", "10.0.0.1", "[::1]:7000", "::1", "localhost:5",
		"dns+gossip.ns.svc.cluster.local:7946", "dns+gossip", "dns+[::1]", "dns+a..b",
		"dnssrv+_gossip._tcp.svc.ns.svc.cluster.local", "dnssrv+x:1", "dnssrv+",
		"x+y", "[a]b:80", "1.2.3.4:0", "fe80::1%eth0", "dns+host:+80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sd, err := parseSeed(s)
		if err != nil {
			if !errors.Is(err, ErrBadSeed) {
				t.Fatalf("parseSeed(%q): %v, not an ErrBadSeed", s, err)
			}
			return
		}
		canon := sd.String()
		again, err := parseSeed(canon)
		if err != nil || again.String() != canon || again.kind != sd.kind {
			t.Fatalf("parseSeed(%q) = %s, which parses to %v, %v", s, canon, again, err)
		}
		switch sd.kind {
		case seedIP:
			if !sd.addr.IsValid() || sd.addr.Port() == 0 || strings.Contains(s, "+") {
				t.Fatalf("parseSeed(%q): plain seed %v", s, sd.addr)
			}
		case seedDNS:
			if !strings.HasPrefix(s, dnsPrefix) || sd.port == 0 || sd.host == "" {
				t.Fatalf("parseSeed(%q): DNS seed %q port %d", s, sd.host, sd.port)
			}
		case seedSRV:
			if !strings.HasPrefix(s, srvPrefix) || strings.Contains(sd.host, ":") {
				t.Fatalf("parseSeed(%q): SRV seed %q", s, sd.host)
			}
		}
	})
}

// resolveSeeds lists every address of every A, AAAA and SRV record,
// each once, and says which seeds gave none and why.
func TestResolveSeeds(t *testing.T) {
	r := newFakeResolver()
	r.setIPs("gossip.svc", "10.0.0.1", "10.0.0.2", "fd00::1", "::ffff:10.0.0.3")
	r.setSRV("_g._tcp.svc", "a.svc:7001", "b.svc:7002", "10.0.0.9:7003", "gone.svc:7004")
	r.setIPs("a.svc", "10.0.1.1", "fd00::11")
	r.setIPs("b.svc", "10.0.1.2")
	r.setIPs("empty.svc")
	r.setErr("broken.svc", &net.DNSError{Err: "server misbehaving", Name: "broken.svc", IsTemporary: true})
	tests := []struct {
		name         string
		seeds        []string
		want         []string // the addresses, in order
		wantFailures []string // in the failures, in order
		wantLookup   string   // in the last lookup error; "" = none
	}{
		{"A and AAAA", []string{"dns+gossip.svc:7946"}, []string{"10.0.0.1:7946", "10.0.0.2:7946", "[fd00::1]:7946", "10.0.0.3:7946"}, nil, ""},
		{"SRV", []string{"dnssrv+_g._tcp.svc"},
			[]string{"10.0.1.1:7001", "[fd00::11]:7001", "10.0.1.2:7002", "10.0.0.9:7003"},
			[]string{"dnssrv+_g._tcp.svc: target gone.svc: lookup gone.svc: no such host"}, "gone.svc"},
		{"mixed, each address once", []string{"10.0.0.1:7946", "dns+gossip.svc", "10.0.0.7:1"},
			[]string{"10.0.0.1:7946", "10.0.0.2:7946", "[fd00::1]:7946", "10.0.0.3:7946", "10.0.0.7:1"}, nil, ""},
		{"no address", []string{"dns+empty.svc:1", "10.0.0.1:1"}, []string{"10.0.0.1:1"}, []string{"dns+empty.svc:1: no address"}, ""},
		{"NXDOMAIN", []string{"dns+nobody.svc:1"}, nil, []string{"dns+nobody.svc:1: lookup nobody.svc: no such host"}, "nobody.svc"},
		{"lookup error", []string{"dns+broken.svc:1", "dnssrv+broken.svc"}, nil,
			[]string{"dns+broken.svc:1: lookup broken.svc: server misbehaving", "dnssrv+broken.svc: lookup broken.svc: server misbehaving"}, "dnssrv+broken.svc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeds, err := parseSeeds(tt.seeds)
			if err != nil {
				t.Fatal(err)
			}
			res := resolveSeeds(context.Background(), r, seeds)
			var got []string
			for _, tg := range res.targets {
				got = append(got, tg.addr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("addresses = %v, want %v", got, tt.want)
			}
			if !slices.Equal(res.failures, tt.wantFailures) {
				t.Errorf("failures = %q, want %q", res.failures, tt.wantFailures)
			}
			switch {
			case tt.wantLookup == "" && res.lookupErr != nil:
				t.Errorf("lookup error %v, want none", res.lookupErr)
			case tt.wantLookup != "" && (res.lookupErr == nil || !strings.Contains(res.lookupErr.Error(), tt.wantLookup)):
				t.Errorf("lookup error %v, want one naming %q", res.lookupErr, tt.wantLookup)
			}
		})
	}
}

// The waits start at first, double up to max, and each is drawn from
// the upper half of its value.
func TestBackoff(t *testing.T) {
	timing := joinTiming{first: 100 * time.Millisecond, max: time.Second}
	b := timing.backoff()
	for i, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		if d := b.wait(); d < ceil/2 || d > ceil {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	for _, p := range []Profile{Local, LAN, WAN} {
		if jt := p.joinTiming(); jt.first <= 0 || jt.max < jt.first || jt.alone <= 0 || jt.attempt <= 0 {
			t.Errorf("%v: join timing %+v", p, jt)
		}
	}
}
