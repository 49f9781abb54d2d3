package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/gossipsync/gossipsync/internal/errtext"
	"github.com/gossipsync/gossipsync/internal/wire"
)

// EventType says what happened to a member.
type EventType int

// The member events.
const (
	EventJoin   EventType = iota + 1 // a member joined (or rejoined after a failure)
	EventLeave                       // a member left gracefully
	EventFail                        // a member stopped answering and was declared failed
	EventUpdate                      // a member's tags changed
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	case EventUpdate:
		return "update"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a change of membership seen by this node.
type Event struct {
	Type   EventType
	Member Member
}

// Node is one member of a gossipsync cluster: membership by gossip, and RPC
// to the other members. Safe for concurrent use.
type Node struct {
	cfg  Config
	name string
	addr string
	log  *slog.Logger
	serf *serf.Serf
	tr   *transport
	hs   *handshaker
	rpc  rpcState
	logs *nodeLogs // rate-limited warnings and the counters kept instead (log.go)

	baseCtx context.Context // canceled by Close; parent of handler contexts
	cancel  context.CancelFunc
	// rejoinCtx, a child of baseCtx, is canceled by Leave too: it bounds
	// the rejoining of a node that is alone (see watchAlone).
	rejoinCtx  context.Context
	stopRejoin context.CancelFunc
	closed     atomic.Bool
	wg         sync.WaitGroup // every goroutine the node started

	// joinTried: Join started a gossip join; joined: a Join returned
	// success. A node that tried and never heard of success may have been
	// admitted all the same: Close makes it leave (see Close).
	joinTried, joined atomic.Bool
	joinAsked         atomic.Bool                   // Join was called with seeds (see JoinPending)
	knowsOthers       atomic.Bool                   // a join exchanged state with another node (see JoinPending)
	joining           atomic.Pointer[chan struct{}] // closed when the last gossip join ended
	bcastTimeout      time.Duration                 // serf's BroadcastTimeout

	// tagsMu serializes SetTags and protects tags. It is not mu: serf
	// delivers the tag update to our own event loop (which takes mu)
	// while SetTags waits for the broadcast. It is a channel of one
	// token rather than a sync.Mutex: SetTags can wait seconds for its
	// broadcast while holding it, and a goroutine waiting on a channel
	// lets a synctest bubble advance its clock, one waiting on a mutex
	// does not.
	tagsMu chan struct{}
	tags   map[string]string // what this node gossips, tagRPC included

	// membersVersion counts serf's member events (see MembersVersion).
	membersVersion atomic.Uint64

	mu     sync.Mutex // protects the fields below
	subs   map[*subscription]struct{}
	quorum map[string]struct{} // the quorum basis: members seen, less those that left
	// beforeLeave: run by Leave before it announces the departure.
	beforeLeave []*leaveHook
	broadcasts  []*broadcastHandler // see OnBroadcast
	// rejoinSeeds: the seeds of the last Join that succeeded, which a
	// node alone joins again; aloneWatched: watchAlone's goroutine runs.
	rejoinSeeds  []seed
	aloneWatched bool

	leaveMu sync.Mutex // serializes serf's Leave and Shutdown

	sharedMu sync.Mutex // protects shared; see Shared
	shared   map[any]*sharedValue
}

// New validates cfg, opens the node's listeners and starts gossip. It does
// not join anyone: call Join with the address of one or more members.
//
// New returns a whole node, and nothing reaches the node from the network
// before it is whole. The listeners are bound first, but a packet or a
// connection (RPC or gossip) that arrives while New runs waits, in the
// socket buffers and the listen backlog (or in the Network's Dial), and is
// served once New has finished; if New fails, it is refused when the
// listeners close, and New stops everything it started.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := validateName(cfg.Name); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ln, pc, err := listenPair(cfg.Network, cfg.BindAddr)
	if err != nil {
		return nil, errtext.Errorf("cluster: ", "cluster: config: BindAddr %q: listen: %w", cfg.BindAddr, err)
	}
	advertise, err := cfg.advertiseAddr(ln.Addr())
	if err != nil {
		ln.Close()
		pc.Close()
		return nil, err
	}
	n := &Node{
		cfg:    cfg,
		name:   cfg.Name,
		addr:   advertise.String(),
		log:    cfg.Logger.With("node", cfg.Name),
		subs:   map[*subscription]struct{}{},
		tagsMu: make(chan struct{}, 1),
		quorum: map[string]struct{}{cfg.Name: {}},
		rpc:    rpcState{handlers: map[string]Handler{}, conns: map[string]*conn{}, live: map[*conn]struct{}{}, dialing: map[string]chan struct{}{}},
	}
	n.baseCtx, n.cancel = context.WithCancel(context.Background())
	n.rejoinCtx, n.stopRejoin = context.WithCancel(n.baseCtx)
	n.logs = newNodeLogs(n.log)
	keys := [][]byte{}
	if cfg.SecretKey != nil {
		keys = append([][]byte{cfg.SecretKey}, cfg.SecondaryKeys...)
	}
	n.hs = &handshaker{self: wire.Hello{Name: n.name, Addr: n.addr}, keys: keys, maxFrame: maxHandshakeFrame, check: n.checkPeer}
	n.tr = newTransport(cfg.Network, ln, pc, advertise)
	n.tr.log = n.log.Debug
	n.tr.onRPC = n.acceptRPC
	n.tr.lim = newLimiter(cfg.Limits, cfg.SecretKey != nil, n.log)

	// memberlist takes the transport's packet and stream channels during
	// serf.Create, so the transport exists first; but its loops, the only
	// readers of the network, start last (see New's doc). Gossip waits
	// too: memberlist's handlers start inside serf.Create, before serf
	// stores the memberlist that some of its message handlers use.
	events := make(chan serf.Event, 256)
	sc, err := cfg.serfConfig(n.tr, events, advertise)
	if err == nil {
		n.logs.limitGossip(sc)
		sc.MemberlistConfig.Merge = joinWatch{n} // serf sets none: no Merge in its config
		n.serf, err = createSerf(sc)
	}
	if err != nil {
		n.cancel()
		n.tr.Shutdown()
		return nil, errtext.Errorf("cluster: ", "cluster: start gossip: %w", err)
	}
	n.tags, n.bcastTimeout = sc.Tags, sc.BroadcastTimeout
	n.wg.Add(1)
	go n.eventLoop(events)
	// The node is whole: from here on, network input may reach checkPeer,
	// handlers and serf's delegates. Starting the loops after every field
	// is set is also the happens-before the race detector needs.
	n.tr.start()
	return n, nil
}

// SetTags changes the tags this node gossips: each key is set to its
// value, and an empty value removes the key. Keys starting with "_" are
// for gossipsync's own packages (taskpool advertises its commands so);
// "_rpc" cannot be changed. Tags must fit in 512 bytes in all. The others
// see the change by gossip, as an EventUpdate; SetTags returns once the
// update is queued, without waiting for it to spread.
func (n *Node) SetTags(tags map[string]string) error {
	if n.closed.Load() {
		return ErrClosed
	}
	n.tagsMu <- struct{}{}
	defer func() { <-n.tagsMu }()
	next := maps.Clone(n.tags)
	for k, v := range tags {
		switch {
		case k == "" || k == tagRPC:
			return fmt.Errorf("cluster: SetTags: key %q cannot be set", k)
		case v == "":
			delete(next, k)
		default:
			next[k] = v
		}
	}
	if err := n.serf.SetTags(next); err != nil {
		// memberlist applies and queues the update before it waits for
		// the first transmission; a busy gossip queue makes that wait
		// time out, yet the update still spreads (and push-pull carries
		// it too). Only a refused update is an error.
		if !strings.Contains(err.Error(), "timeout waiting for update broadcast") {
			return errtext.Errorf("cluster: ", "cluster: SetTags: %w", err)
		}
		n.log.Debug("tag update queued behind a busy gossip queue", "err", err)
	}
	n.tags = next
	return nil
}

// Done returns a channel that is closed when Close begins: services
// built on the node stop with it.
func (n *Node) Done() <-chan struct{} { return n.baseCtx.Done() }

// Logger returns the node's logger (Config.Logger, with the node's name),
// for the services built on the node to log through.
func (n *Node) Logger() *slog.Logger { return n.log }

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Profile returns the node's timing profile; other packages derive their
// default timeouts and leases from it.
func (n *Node) Profile() Profile { return n.cfg.Profile }

// prepareDataDir creates dir if need be and checks that a file can be
// written in it, so that a node whose durable state could not be kept
// fails to start rather than run from memory unnoticed.
func prepareDataDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster: config: DataDir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("cluster: config: DataDir %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// DataDir returns Config.DataDir: where the node keeps its durable
// state ("" for none).
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Addr returns the advertised gossip address, usable as a seed by others.
func (n *Node) Addr() string { return n.addr }

// checkPeer vets an inbound RPC hello: the name must not belong to another
// live member at another address.
func (n *Node) checkPeer(peer wire.Hello, _ net.Addr) error {
	if err := validateName(peer.Name); err != nil {
		return fmt.Errorf("%w: peer name: %v", ErrBadFrame, err)
	}
	if peer.Name == n.name {
		if peer.Addr != n.addr {
			return fmt.Errorf("%w: %q is this node's name (at %s), not %s's", ErrDuplicateName, peer.Name, n.addr, peer.Addr)
		}
		return nil
	}
	for _, m := range n.serf.Members() {
		if m.Name == peer.Name && m.Status == serf.StatusAlive {
			if addr := m.Tags[tagRPC]; addr != "" && addr != peer.Addr {
				return fmt.Errorf("%w: %q belongs to the live member at %s, not %s", ErrDuplicateName, peer.Name, addr, peer.Addr)
			}
		}
	}
	return nil
}

// eventLoop turns serf's member events into Events until Close.
func (n *Node) eventLoop(events <-chan serf.Event) {
	defer n.wg.Done()
	for {
		select {
		case e := <-events:
			switch e := e.(type) {
			case serf.MemberEvent:
				// serf changed its list before it sent the event.
				n.membersVersion.Add(1)
				n.memberEvent(e)
			case serf.UserEvent:
				n.userEvent(e)
			}
		case <-n.baseCtx.Done():
			return
		}
	}
}

func (n *Node) memberEvent(me serf.MemberEvent) {
	var t EventType
	switch me.Type {
	case serf.EventMemberJoin:
		t = EventJoin
	case serf.EventMemberLeave:
		t = EventLeave
	case serf.EventMemberFailed:
		t = EventFail
	case serf.EventMemberUpdate:
		t = EventUpdate
	default:
		return
	}
	for _, m := range me.Members {
		if t == EventLeave || t == EventFail {
			n.dropConns(m.Name)
		}
		n.publish(Event{Type: t, Member: toMember(m)})
	}
}

// publish updates the quorum basis and hands e to every subscriber.
func (n *Node) publish(e Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch e.Type {
	case EventJoin, EventUpdate:
		if e.Member.Tags[tagNonVoter] == "" {
			n.quorum[e.Member.Name] = struct{}{}
		}
	case EventLeave:
		if e.Member.Name != n.name {
			delete(n.quorum, e.Member.Name)
		}
	}
	n.log.Debug("member event", "type", e.Type.String(), "member", e.Member.Name)
	for s := range n.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// spawn runs f on a goroutine that Close waits for, unless the node is
// closed (then it returns false and runs nothing).
func (n *Node) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// Close stops the node without leaving: the others will see it fail. Call
// Leave first for a graceful exit. One exception: a node on which Join
// was called and never succeeded, but which others see alive (a Join
// that gave up at its deadline while the cluster admitted it), leaves
// first, taking up to about twice the profile's broadcast timeout, so
// that it does not stay in the others' quorum basis as a failed member
// that nobody knows of. Close waits for every goroutine the node started
// and closes the Watchers' channels. It is idempotent; calls on a closed
// node return ErrClosed.
func (n *Node) Close() error {
	n.mu.Lock()
	already := n.closed.Swap(true)
	n.mu.Unlock()
	if already {
		return nil
	}
	if n.joinTried.Load() && !n.joined.Load() {
		n.leaveAfterFailedJoin()
	}
	n.leaveMu.Lock() // a Leave under way finishes first (see serfLeave)
	err := n.serf.Shutdown()
	n.leaveMu.Unlock()
	n.tr.Shutdown()
	// Connections first: handlers canceled by Close must not get their
	// replies out, or a caller would take a reply from a closed node.
	n.closeAllConns()
	n.cancel()
	n.wg.Wait()
	n.logs.close()
	n.mu.Lock()
	for s := range n.subs {
		close(s.ch)
	}
	n.subs = nil
	n.mu.Unlock()
	if err != nil {
		return errtext.Errorf("cluster: ", "cluster: close: %w", err)
	}
	return nil
}
