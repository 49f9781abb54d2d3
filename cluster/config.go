package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// Profile selects the timing of failure detection and gossip.
type Profile int

const (
	// LAN suits nodes on one local network: memberlist's and serf's
	// defaults, but gossip is not compressed; a crashed member is
	// detected in a few seconds. The zero value.
	LAN Profile = iota
	// WAN suits nodes across data centres: slower probes, more tolerance
	// of delay; detection takes tens of seconds.
	WAN
	// Local suits nodes on one machine (tests, the simulation): a crashed
	// member is detected in about a second and a healed partition
	// re-merges within a few seconds.
	Local
)

func (p Profile) String() string {
	switch p {
	case LAN:
		return "lan"
	case WAN:
		return "wan"
	case Local:
		return "local"
	}
	return fmt.Sprintf("Profile(%d)", int(p))
}

// ParseProfile parses "lan", "wan" or "local".
func ParseProfile(s string) (Profile, error) {
	for _, p := range []Profile{LAN, WAN, Local} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("cluster: unknown profile %q (want lan, wan or local)", s)
}

// DefaultPort is the gossip port used when an address has none.
const DefaultPort = 7946

// DefaultVoters is the size of the voter set when Config.Voters is 0.
const DefaultVoters = 5

// reservedTagPrefix marks the tags the library gossips for itself.
const reservedTagPrefix = "_"

// tagRPC carries a member's RPC address.
const tagRPC = "_rpc"

// tagNonVoter marks a member made with Config.NonVoter: it counts in
// no quorum basis and coordinates nothing (VotingMemberNames).
const tagNonVoter = "_nv"

// Config configures a Node. The zero value of every field means its
// documented default. New validates it and names the offending field.
type Config struct {
	// Name is the node's name, unique in the cluster. "" = the host name
	// plus a short random suffix.
	Name string
	// BindAddr is the "ip:port" on which gossip packets, gossip streams
	// and RPC streams are received. Port 0 picks a free port. "" =
	// "0.0.0.0:7946".
	BindAddr string
	// AdvertiseAddr is the "ip:port" other nodes use to reach this one.
	// "" = BindAddr's address, or this host's private IP when BindAddr's
	// IP is unspecified; a port of 0 means the bound port.
	AdvertiseAddr string
	// SecretKey is the cluster's shared key: 16, 24 or 32 bytes (AES-128,
	// -192 or -256). nil = an open cluster; an empty key that is not nil
	// ([]byte(os.Getenv(...)) of an unset variable) is an error. With a key, gossip is
	// encrypted and every RPC connection is mutually authenticated and
	// encrypted; a node without the key cannot join, read gossip, or call
	// a method. See the package doc for key rotation.
	SecretKey []byte
	// SecondaryKeys are further keys this node accepts but does not send
	// with, used while rotating SecretKey. Each is 16, 24 or 32 bytes.
	SecondaryKeys [][]byte
	// Tags are user tags, gossiped to every member. Keys starting with
	// "_" are reserved. Tags and the library's own must fit in 512 bytes
	// as serf encodes them (each key and value costs its length plus 1 to
	// 3 bytes). The library's own is the RPC address, up to 55 bytes:
	// Validate counts the longest the node may advertise, with the IP of
	// AdvertiseAddr or BindAddr, or the longest IPv6 address when neither
	// names one.
	Tags map[string]string
	// Profile selects failure-detection and gossip timing; default LAN.
	Profile Profile
	// ExpectedSize, when > 0, is the quorum basis: QuorumSize is
	// ExpectedSize/2+1. 0 = the largest membership seen, lowered only by
	// graceful leaves.
	ExpectedSize int
	// Voters is the size of the voter set: the members that hold the
	// agreed state of locks and elections (see package election and
	// lockmgr). 0 = DefaultVoters (5). It must be odd; a smaller cluster
	// has as many voters as it has members, less one when that is even.
	// Every node of a cluster should use the same value.
	Voters int
	// NonVoter keeps the node out of the voter set whatever the cluster's
	// size: it never becomes a voter or learner, never founds a group,
	// and uses the voters as a client (its locks, elections, tasks and
	// events work as on any node). For short-lived members, such as the
	// gossipsync lock and elect commands, and for nodes that should not
	// carry the voters' load. It counts in no quorum basis (QuorumSize),
	// is on no lock coordinator ring (VotingMemberNames), and
	// ExpectedSize should count only the other nodes. It keeps no state:
	// DataDir must be empty.
	NonVoter bool
	// DataDir, when set, is a directory (created if need be) where the
	// node keeps its part of the voters' state (package voters: the
	// Raft log and snapshots of its member, which hold the lease table
	// and the event log), so that a restart of every node at once keeps
	// locks' fencing tokens and the event streams. "" = memory only:
	// the state survives while a majority of the voters runs (rolling
	// restarts included), not a restart of them all. Give each node a
	// directory of its own, never two running nodes the same one, and
	// never put back an older copy (a backup) of one: a member that goes
	// back in its log can break the agreement. See package voters for
	// what each mode survives.
	DataDir string
	// Network carries the node's traffic. nil = real UDP and TCP sockets.
	Network Network
	// Resolver looks up the names of Join's DNS seeds ("dns+host:port",
	// "dnssrv+name"). nil = net.DefaultResolver.
	Resolver Resolver
	// Logger receives the node's logs, serf's and memberlist's included.
	// nil = discard.
	Logger *slog.Logger
	// Clock is the machine's physical clock, which the node's leases and
	// schedules read and wait on (see Clock). nil = SystemClock; a
	// simulation gives each node one that is off and drifts.
	Clock Clock
	// MaxFrame is the largest RPC frame accepted or sent, in bytes. 0 =
	// 4 MiB. A larger frame closes the connection it came on.
	MaxFrame int
	// Limits bound what peers can make the node hold before they have
	// proven that they hold the key: connections, gossip streams and the
	// size a gossip stream may declare. The zero value means the defaults
	// (see Limits).
	Limits Limits
}

// Validate reports the first invalid field, without side effects.
func (c *Config) Validate() error {
	if err := validateName(c.Name); err != nil && c.Name != "" {
		return err
	}
	if c.BindAddr != "" {
		if _, err := parseIPPort(c.BindAddr); err != nil {
			return errtext.Errorf("cluster: ", "cluster: config: BindAddr %q: %w", c.BindAddr, err)
		}
	}
	if c.AdvertiseAddr != "" {
		ap, err := parseIPPort(c.AdvertiseAddr)
		if err == nil && ap.Addr().IsUnspecified() {
			err = errors.New("an unspecified IP cannot be reached")
		}
		if err != nil {
			return errtext.Errorf("cluster: ", "cluster: config: AdvertiseAddr %q: %w", c.AdvertiseAddr, err)
		}
	}
	if c.SecretKey != nil && len(c.SecretKey) == 0 {
		return errors.New("cluster: config: SecretKey is empty (read from an unset variable or file?): give 16, 24 or 32 bytes, or leave it nil for an open cluster")
	}
	if c.SecretKey != nil && !validKeyLen(c.SecretKey) {
		return fmt.Errorf("cluster: config: SecretKey is %d bytes; it must be 16, 24 or 32", len(c.SecretKey))
	}
	for i, k := range c.SecondaryKeys {
		if !validKeyLen(k) {
			return fmt.Errorf("cluster: config: SecondaryKeys[%d] is %d bytes; it must be 16, 24 or 32", i, len(k))
		}
	}
	if c.NonVoter && c.DataDir != "" {
		return errors.New("cluster: config: a NonVoter keeps no voter state: leave DataDir empty")
	}
	if c.SecretKey == nil && len(c.SecondaryKeys) > 0 {
		return errors.New("cluster: config: SecondaryKeys need a SecretKey")
	}
	for k := range c.Tags {
		if strings.HasPrefix(k, reservedTagPrefix) || k == "" {
			return fmt.Errorf("cluster: config: Tags key %q: empty keys and keys starting with %q are reserved", k, reservedTagPrefix)
		}
	}
	if err := checkTagsSize(c.withRPCTag(c.longestRPCAddr())); err != nil {
		return err
	}
	if c.Profile < LAN || c.Profile > Local {
		return fmt.Errorf("cluster: config: Profile %d is not LAN, WAN or Local", int(c.Profile))
	}
	if c.ExpectedSize < 0 {
		return fmt.Errorf("cluster: config: ExpectedSize %d is negative", c.ExpectedSize)
	}
	if c.Voters < 0 || c.Voters%2 == 0 && c.Voters != 0 {
		return fmt.Errorf("cluster: config: Voters %d: want 0 (the default, %d) or an odd number", c.Voters, DefaultVoters)
	}
	if c.MaxFrame < 0 || (c.MaxFrame > 0 && c.MaxFrame < 1024) {
		return fmt.Errorf("cluster: config: MaxFrame %d: use 0 for the default or at least 1024", c.MaxFrame)
	}
	return c.Limits.validate()
}

// withRPCTag returns c's tags plus the RPC address tag, as gossiped.
func (c *Config) withRPCTag(rpcAddr string) map[string]string {
	tags := map[string]string{tagRPC: rpcAddr}
	if c.NonVoter {
		tags[tagNonVoter] = "1"
	}
	for k, v := range c.Tags {
		tags[k] = v
	}
	return tags
}

// longestRPCAddr is the longest RPC address New may advertise for c: the
// IP of AdvertiseAddr or else of BindAddr (where the listener binds), or
// the longest IPv6 address when neither names one (New then looks up a
// private IP); and a port of five digits.
func (c *Config) longestRPCAddr() string {
	ip := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	for _, a := range []string{c.AdvertiseAddr, c.BindAddr} {
		if ap, err := parseIPPort(a); err == nil && !ap.Addr().IsUnspecified() {
			ip = ap.Addr()
			break
		}
	}
	return netip.AddrPortFrom(ip, 65535).String()
}

// checkTagsSize reports tags (the RPC address tag included) that do not
// fit in serf's limit on a member's encoded tags.
func checkTagsSize(tags map[string]string) error {
	if size := tagsSize(tags); size > memberlist.MetaMaxSize {
		return fmt.Errorf("cluster: config: Tags take %d bytes with the RPC address tag; gossip allows %d", size, memberlist.MetaMaxSize)
	}
	return nil
}

// tagsSize is the size of tags as serf encodes them: a magic byte, then
// the map in msgpack's old format (no str8, as serf's encoder writes it).
func tagsSize(tags map[string]string) int {
	size := 1 + msgpackHeader(len(tags), 16)
	for k, v := range tags {
		size += msgpackHeader(len(k), 32) + len(k) + msgpackHeader(len(v), 32) + len(v)
	}
	return size
}

// msgpackHeader is the size of the header of a msgpack map of n entries
// (fix = 16) or string of n bytes (fix = 32).
func msgpackHeader(n, fix int) int {
	switch {
	case n < fix:
		return 1
	case n < 1<<16:
		return 3
	}
	return 5
}

func validateName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("cluster: config: Name %q: want 1 to 128 characters without spaces or control characters", name)
	}
	return nil
}

func validKeyLen(k []byte) bool { return len(k) == 16 || len(k) == 24 || len(k) == 32 }

// parseIPPort parses "ip:port"; "localhost" stands for 127.0.0.1.
func parseIPPort(s string) (netip.AddrPort, error) {
	host, port, err := splitAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host must be an IP address: %w", err)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		suffix := make([]byte, 3)
		rand.Read(suffix)
		c.Name = host + "-" + hex.EncodeToString(suffix)
	}
	if c.BindAddr == "" {
		c.BindAddr = fmt.Sprintf("0.0.0.0:%d", DefaultPort)
	}
	if c.Network == nil {
		c.Network = SocketNetwork{}
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Logger == nil {
		c.Logger = discardLogger
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = wire.DefaultMaxFrame
	}
	return c
}

// advertiseAddr works out the address peers use, given the bound listener.
func (c *Config) advertiseAddr(bound net.Addr) (netip.AddrPort, error) {
	b, err := parseIPPort(bound.String())
	if err != nil {
		return netip.AddrPort{}, errtext.Errorf("cluster: ", "cluster: bound address %q: %w", bound, err)
	}
	ip := b.Addr()
	port := b.Port()
	if c.AdvertiseAddr != "" {
		a, _ := parseIPPort(c.AdvertiseAddr) // validated
		ip = a.Addr()
		if a.Port() != 0 {
			port = a.Port()
		}
	}
	if ip.IsUnspecified() {
		priv, err := sockaddr.GetPrivateIP()
		if err != nil || priv == "" {
			return netip.AddrPort{}, fmt.Errorf("cluster: config: AdvertiseAddr: BindAddr %s has no specific IP and no private IP was found; set AdvertiseAddr", c.BindAddr)
		}
		ip, err = netip.ParseAddr(priv)
		if err != nil {
			return netip.AddrPort{}, errtext.Errorf("cluster: ", "cluster: private IP %q: %w", priv, err)
		}
	}
	return netip.AddrPortFrom(ip, port), nil
}

// minRetransmitMult is the least RetransmitMult of every profile.
// memberlist sends each broadcast RetransmitMult*ceil(log10(n+1)) times
// from every node that has it, to random members: for a cluster of up to
// 9 nodes, RetransmitMult times. An epidemic of fanout f misses a given
// node with probability about e^-f. With memberlist's default of 4, a
// join often did not reach some node of a 9-node cluster until the next
// push-pull (5 s on Local, 30 s on LAN): 15 % of 9-node clusters took
// over 5 s to converge on loopback. With 8, 300 of them converged in
// 116 ms at most. The cost is gossip packets per change of membership or
// tags, not per second of idling.
const minRetransmitMult = 8

// memberlistConfig returns the memberlist timing of the profile.
func (p Profile) memberlistConfig() *memberlist.Config {
	var mc *memberlist.Config
	switch p {
	case WAN:
		mc = memberlist.DefaultWANConfig()
	case Local:
		// Measured on 2-core machines: these values converged 50 nodes
		// in about 140 ms and detected a crash in about 0.5 s with no
		// false suspicions.
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 100 * time.Millisecond
		mc.ProbeTimeout = 50 * time.Millisecond
		mc.GossipInterval = 20 * time.Millisecond
		mc.SuspicionMult = 2
		mc.PushPullInterval = 5 * time.Second
		mc.TCPTimeout = time.Second
	default:
		mc = memberlist.DefaultLANConfig()
	}
	if p != WAN {
		// On one host or one LAN, compressing gossip saves bandwidth
		// nobody is short of, at a cost in CPU that grows with the
		// cluster: memberlist makes a new LZW writer for every packet,
		// a tenth of the CPU of a 50-node simulation and 7 % of a
		// 27-node cluster taking locks (BenchmarkScale). Packets are
		// compounded before they would be compressed, so it packs no
		// more into one. Receivers accept either form, so members of
		// either profile mix. WAN links keep it.
		mc.EnableCompression = false
	}
	mc.RetransmitMult = max(mc.RetransmitMult, minRetransmitMult)
	return mc
}

// createSerf is serf.Create; a test replaces it to make New fail once its
// listeners are bound.
var createSerf = serf.Create

// serfConfig builds serf's configuration for a node.
func (c *Config) serfConfig(tr memberlist.Transport, events chan serf.Event, advertise netip.AddrPort) (*serf.Config, error) {
	sc := serf.DefaultConfig()
	sc.NodeName = c.Name
	sc.EventCh = events
	// Nothing here reads serf's network coordinates (Vivaldi), and
	// keeping them costs a payload and an update on every probe of
	// every node.
	sc.DisableCoordinates = true
	sc.Tags = c.withRPCTag(advertise.String())
	// Validate counted the longest address New may advertise; this is
	// the one it does.
	if err := checkTagsSize(sc.Tags); err != nil {
		return nil, err
	}
	logger := stdLogger(c.Logger.With("component", "serf"))
	sc.Logger = logger
	sc.LogOutput = nil
	mc := c.Profile.memberlistConfig()
	mc.Name = c.Name
	mc.Transport = tr
	mc.Logger = stdLogger(c.Logger.With("component", "memberlist"))
	mc.AdvertiseAddr = advertise.Addr().String()
	mc.AdvertisePort = int(advertise.Port())
	if c.SecretKey != nil {
		kr, err := memberlist.NewKeyring(c.SecondaryKeys, c.SecretKey)
		if err != nil {
			return nil, errtext.Errorf("cluster: ", "cluster: keyring: %w", err)
		}
		mc.Keyring = kr
	}
	sc.MemberlistConfig = mc
	if c.Profile == Local {
		sc.ReconnectInterval = 500 * time.Millisecond
		sc.ReapInterval = time.Second
		sc.ReconnectTimeout = 5 * time.Minute
		sc.TombstoneTimeout = 5 * time.Minute
		sc.LeavePropagateDelay = 200 * time.Millisecond
		sc.BroadcastTimeout = 2 * time.Second
		sc.FlapTimeout = 5 * time.Second
	}
	return sc, nil
}
