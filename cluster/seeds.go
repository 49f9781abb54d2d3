package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Resolver looks up the names of DNS seeds (see Join). *net.Resolver
// implements it, and net.DefaultResolver is the default
// (Config.Resolver); a test gives a fake. It must be safe for
// concurrent use.
type Resolver interface {
	// LookupNetIP returns the IP addresses of host (A and AAAA records;
	// network is "ip").
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupSRV returns the SRV records of name (service and proto are
	// empty: name is looked up as given, e.g.
	// "_gossip._tcp.svc.ns.svc.cluster.local").
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

var _ Resolver = (*net.Resolver)(nil)

// The prefixes of DNS seeds, as in Grafana's dskit.
const (
	dnsPrefix = "dns+"    // "dns+host:port": every A and AAAA record is a seed
	srvPrefix = "dnssrv+" // "dnssrv+name": every SRV record's target:port is a seed
)

// maxSeedLen bounds a seed's text: a DNS name is at most 253 bytes.
const maxSeedLen = 512

// seedKind is how a seed gives its addresses.
type seedKind uint8

const (
	seedIP  seedKind = iota // an IP address and port, as given
	seedDNS                 // the A and AAAA records of host, at port
	seedSRV                 // the SRV records of host, their targets by A and AAAA
)

// seed is one of Join's seeds, parsed.
type seed struct {
	raw  string
	kind seedKind
	addr netip.AddrPort // seedIP
	host string         // seedDNS, seedSRV: the name to look up
	port uint16         // seedDNS
}

// parseSeeds parses every seed, failing on the first malformed one.
func parseSeeds(raw []string) ([]seed, error) {
	out := make([]seed, 0, len(raw))
	for _, s := range raw {
		sd, err := parseSeed(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sd)
	}
	return out, nil
}

// parseSeed parses one seed: "ip:port", "ip" (port DefaultPort),
// "dns+host:port", "dns+host" (port DefaultPort) or "dnssrv+name". A
// malformed seed is an ErrBadSeed that names it and says why.
func parseSeed(s string) (seed, error) {
	sd := seed{raw: s}
	var err error
	switch {
	case len(s) > maxSeedLen:
		err = fmt.Errorf("longer than %d bytes", maxSeedLen)
	case strings.HasPrefix(s, srvPrefix):
		sd.kind = seedSRV
		sd.host = strings.TrimPrefix(s, srvPrefix)
		err = checkSRVName(sd.host)
	case strings.HasPrefix(s, dnsPrefix):
		sd.kind = seedDNS
		sd.host, sd.port, err = splitSeed(strings.TrimPrefix(s, dnsPrefix))
		if err == nil {
			err = checkHost(sd.host)
		}
	case strings.Contains(s, "+"):
		prefix, _, _ := strings.Cut(s, "+")
		err = fmt.Errorf("unknown prefix %q: want %q or %q", prefix+"+", dnsPrefix, srvPrefix)
	default:
		sd.addr, err = parseSeedIP(s)
	}
	if err != nil {
		return seed{}, fmt.Errorf("%w %q: %v", ErrBadSeed, s, err)
	}
	return sd, nil
}

// parseSeedIP parses a plain seed, "ip:port" or "ip".
func parseSeedIP(s string) (netip.AddrPort, error) {
	host, port, err := splitSeed(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("host must be an IP address (for a name to look up, write %q)", dnsPrefix+s)
	}
	return netip.AddrPortFrom(ip.Unmap(), port), nil
}

// splitSeed splits "host:port", "[ipv6]:port", "host", "ipv6" or
// "[ipv6]"; a missing port is DefaultPort.
func splitSeed(s string) (host string, port uint16, err error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		// No port, or not a host:port at all (checkHost or the IP
		// parse rejects what is left).
		h, p = s, strconv.Itoa(DefaultPort)
		if inner, ok := strings.CutPrefix(s, "["); ok {
			if inner, ok = strings.CutSuffix(inner, "]"); ok {
				h = inner
			}
		}
	}
	if h == "" {
		return "", 0, errors.New("no host")
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("port %q: want a number from 1 to 65535", p)
	}
	return h, uint16(n), nil
}

// checkHost accepts a DNS name or an IP address.
func checkHost(h string) error {
	if ip, err := netip.ParseAddr(h); err == nil && ip.Zone() == "" {
		return nil
	}
	return checkName(h)
}

// checkSRVName accepts a DNS name; the port comes from the records.
func checkSRVName(h string) error {
	if strings.Contains(h, ":") {
		return errors.New("an SRV seed takes no port: the records give it")
	}
	return checkName(h)
}

// checkName accepts a DNS name as resolvers take it: dot-separated
// labels of 1 to 63 letters, digits, '-' or '_' (SRV names start with
// '_'), at most 253 bytes, with an optional final dot.
func checkName(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("host %q: want a DNS name of 1 to 253 bytes", h)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q: each dot-separated label must have 1 to 63 bytes", h)
		}
		for _, c := range []byte(label) {
			if !isNameByte(c) {
				return fmt.Errorf("host %q: %q is not allowed in a DNS name", h, rune(c))
			}
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// String is the seed in the form parseSeed takes, canonical: what a
// parsed seed stands for, whatever its spelling.
func (sd seed) String() string {
	switch sd.kind {
	case seedDNS:
		return dnsPrefix + net.JoinHostPort(sd.host, strconv.Itoa(int(sd.port)))
	case seedSRV:
		return srvPrefix + sd.host
	}
	return sd.addr.String()
}

// target is an address to contact and the seed it came from.
type target struct {
	addr string // "ip:port"
	seed string // the seed as given
}

// label names t in messages: the seed, and the address when the seed
// was a name.
func (t target) label() string {
	if t.seed == t.addr {
		return t.seed
	}
	return t.seed + " (" + t.addr + ")"
}

// resolution is what looking the seeds up gave.
type resolution struct {
	targets   []target // each address once, in the order found
	failures  []string // the seeds that gave no address, and why
	lookupErr error    // the last lookup that failed, if any
}

// resolveSeeds looks up the DNS seeds with r and lists every address
// the seeds give. A lookup error, or a name with no address, is noted
// in failures and does not stop the others.
func resolveSeeds(ctx context.Context, r Resolver, seeds []seed) resolution {
	var res resolution
	for _, sd := range seeds {
		failed := len(res.failures)
		found := 0
		switch sd.kind {
		case seedIP:
			found = res.add(sd, sd.addr.Port(), sd.addr.Addr())
		case seedDNS:
			found = res.lookupIP(ctx, r, sd, sd.host, sd.port)
		case seedSRV:
			found = res.lookupSRV(ctx, r, sd)
		}
		if found == 0 && len(res.failures) == failed {
			res.failures = append(res.failures, sd.raw+": no address")
		}
	}
	return res
}

// lookupIP adds the A and AAAA records of host, at port, and returns
// how many there were.
func (res *resolution) lookupIP(ctx context.Context, r Resolver, sd seed, host string, port uint16) int {
	if ip, err := netip.ParseAddr(host); err == nil {
		return res.add(sd, port, ip)
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		if host != sd.host {
			err = fmt.Errorf("target %s: %w", host, err)
		}
		res.fail(sd, err)
		return 0
	}
	return res.add(sd, port, ips...)
}

// lookupSRV adds the addresses of sd's SRV records, their targets
// looked up by A and AAAA, and returns how many there were.
func (res *resolution) lookupSRV(ctx context.Context, r Resolver, sd seed) int {
	_, srvs, err := r.LookupSRV(ctx, "", "", sd.host)
	if err != nil {
		res.fail(sd, err)
		return 0
	}
	found := 0
	for _, srv := range srvs {
		if srv != nil && srv.Port != 0 && srv.Target != "" {
			found += res.lookupIP(ctx, r, sd, srv.Target, srv.Port)
		}
	}
	return found
}

// add adds the addresses ips at port that are not yet listed, and
// returns how many of ips could be contacted (listed before or not).
func (res *resolution) add(sd seed, port uint16, ips ...netip.Addr) int {
	found := 0
	for _, ip := range ips {
		if !ip.IsValid() || ip.IsUnspecified() {
			continue
		}
		found++
		addr := netip.AddrPortFrom(ip.Unmap(), port).String()
		if !slices.ContainsFunc(res.targets, func(t target) bool { return t.addr == addr }) {
			res.targets = append(res.targets, target{addr: addr, seed: sd.raw})
		}
	}
	return found
}

func (res *resolution) fail(sd seed, err error) {
	res.lookupErr = fmt.Errorf("%s: %w", sd.raw, err)
	res.failures = append(res.failures, res.lookupErr.Error())
}
