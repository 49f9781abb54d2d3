package voters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/gossipsync/gossipsync/cluster"
)

// ErrClosed is returned by a Service's calls after it closed.
var ErrClosed = errors.New("voters: service closed")

// Service is one node's part in the voter core: it may be a member of
// the group (voter or learner) or only a client of it; it founds the
// first group, and on the leader it runs the autopilot and the expiry of
// leases. Get one with Acquire; every package on a node shares it.
type Service struct {
	node *cluster.Node
	log  *slog.Logger
	opt  timing
	out  *outbox
	// tagsChanged wakes tagLoop: the tags to gossip changed.
	tagsChanged chan struct{}

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop, senders, background work
	unhook func()         // BeforeLeave registration

	mu   sync.Mutex // protects the fields below
	rid  uint64     // this incarnation's Raft ID; changes when removed from a group
	m    *member    // the Raft member, nil if none
	hint string     // the leader named by the last NotLeader reply
	// suspectName did not answer a try at suspectAt (see suspect).
	suspectName string
	suspectAt   time.Time
	eligible    time.Time // founding: when this node first found it should found
	mem         *memory   // the node's: whether it saw a group (it then never founds one)
	vetoedUntil time.Time // a peer knew of a group: no founding before then
	polling     bool      // a founder is asking its peers (poll)
	missing     map[uint64]time.Time
	busy        bool // the autopilot has a change in flight
	expiring    bool // an expiry proposal is in flight
	// expiringEvents: an event log expiry (redelivery, trim) is in flight.
	expiringEvents bool
	founding       bool   // a founding entry proposed by a leader that is not the founder is in flight
	asking         bool   // a cut-off member is asking the leader to remove it
	role           string // the role tag last set
	leading        bool   // this member led at the loop's last step
	view           view   // the last view observed
	viewSeen       bool   // view was observed
	// viewVersion: the node's MembersVersion when view was observed.
	viewVersion uint64
	leaving     bool              // Leave began: no ID tag, no new member
	stopping    bool              // stop began: spawnLive starts nothing
	closing     bool              // close began: the tags stay as they are
	tags        map[string]string // what this node should gossip
	names       map[uint64]string // Raft ID -> node name, of alive members by gossip
	known       map[uint64]string // Raft ID -> node name, kept while in the configuration
}

// timing holds the service's intervals, by the node's profile.
type timing struct {
	tick      time.Duration // loop period
	settle    time.Duration // founding conditions must hold this long
	failAfter time.Duration // a voter unseen this long is replaced
}

func timingFor(p cluster.Profile) timing {
	switch p {
	case cluster.Local:
		return timing{tick: 20 * time.Millisecond, settle: 100 * time.Millisecond, failAfter: 2 * time.Second}
	case cluster.WAN:
		return timing{tick: 50 * time.Millisecond, settle: 2 * time.Second, failAfter: 30 * time.Second}
	}
	return timing{tick: 25 * time.Millisecond, settle: 500 * time.Millisecond, failAfter: 10 * time.Second}
}

type sharedKey struct{}

// Acquire returns the node's Service, starting it on first use, and a
// function that drops this reference; the last one stops the service.
func Acquire(n *cluster.Node) (s *Service, release func()) {
	v, release := n.Shared(sharedKey{}, func() any { return start(n) }, func(v any) { v.(*Service).close() })
	return v.(*Service), release
}

// Lookup returns the node's Service if one runs, with a function that
// drops the reference it took, and never starts one (ok false, release
// nil): for observers such as package metrics, which must not make a
// node a voter by looking. Call release soon: while it is held the
// service runs on after its last other user let go.
func Lookup(n *cluster.Node) (s *Service, release func(), ok bool) {
	v, release, ok := n.LookupShared(sharedKey{})
	if !ok {
		return nil, nil, false
	}
	return v.(*Service), release, true
}

func start(n *cluster.Node) *Service {
	s := &Service{
		node:    n,
		log:     n.Logger().With("component", "voters"),
		opt:     timingFor(n.Profile()),
		rid:     newID(),
		mem:     nodeMemory(n),
		missing: map[uint64]time.Time{},
		names:   map[uint64]string{},
		known:   map[uint64]string{},
		tags:    map[string]string{},
	}
	s.tagsChanged = make(chan struct{}, 1)
	s.out = &outbox{s: s, peers: map[string]chan outMsg{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// Raft messages are stepped on the connection's reader: stepping
	// queues them for the member's loop (a bounded inbox) at once, and
	// the hand-over to a notice goroutine was a wake-up on the path of
	// every message.
	n.HandleNoticeInline(methodRaft, func(ctx context.Context, r *cluster.Request) (any, error) {
		var b raftBatch
		if err := r.Decode(&b); err != nil {
			return nil, err
		}
		return s.receive(ctx, r.From, b)
	})
	cluster.HandleFunc(n, methodDo, s.serveDo)
	cluster.HandleFunc(n, methodLeave, s.serveLeave)
	cluster.HandleFunc(n, methodRead, s.serveRead)
	cluster.HandleFunc(n, methodGrants, s.serveGrants)
	s.restore()
	s.mem.attach(s)
	s.unhook = n.BeforeLeave(s.handOver)
	s.wg.Add(2)
	go s.loop()
	go s.tagLoop()
	s.setIDTag()
	return s
}

func newID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

func (s *Service) close() {
	s.unhook()
	s.mu.Lock()
	// No tag changes from here on: the node's SetTags waits for a gossip
	// round (about a second on LAN), which would hold up Close.
	s.closing = true
	s.mu.Unlock()
	var departed uint64
	if !s.nodeDown() {
		departed = s.depart()
	}
	for _, m := range []string{methodRaft, methodDo, methodLeave, methodRead, methodGrants} {
		s.node.Handle(m, nil)
	}
	s.mem.attach(nil) // the node still answers founders, from its memory
	s.stop()
	s.wg.Wait()
	if departed != 0 {
		// Removed from the configuration: its DataDir state is of no use.
		// One that did not depart keeps it, to go on from.
		if err := s.mem.store.clearMember(departed); err != nil {
			s.log.Warn("departed member not cleared from the data dir", "err", err)
		}
	}
}

// nodeDown reports whether the node closed (a crash, Leave or Close):
// then nobody can be told anything.
func (s *Service) nodeDown() bool {
	select {
	case <-s.node.Done():
		return true
	default:
		return false
	}
}

// departTimeout bounds depart's request to the leader; the hand-over of
// leadership before it takes up to yieldTimeout more.
const departTimeout = 500 * time.Millisecond

// depart runs when the last user of the service lets it go while the
// node stays up: a leader hands leadership to a caught-up voter, and the
// member asks the leader once to remove it, so the group does not count
// on a member that is gone (else it would be a voter for good: its node
// is alive and keeps gossiping the service's tags, so the autopilot
// would never find it missing). Leaders remember removed IDs while gossip
// names them, so the stale tags do not bring it back. It returns the
// member's ID once the leader answered that it removed it (0 if not).
func (s *Service) depart() uint64 {
	s.yieldLeadership()
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return 0
	}
	st, err := m.g.Status()
	if err != nil || st.State == raft.StateLeader {
		return 0 // the last voter, or a leader nobody could take over from
	}
	// A voter of a new group may not have applied its configuration,
	// nor heard from the leader it voted for, nor even stepped a message:
	// it asks the one it voted for, else the one gossip names, else the
	// node whose message started it, and follows one redirect; the
	// leader knows whether it is in the configuration.
	lead := s.nameOf(st.Leader)
	if lead == "" && st.Vote != m.id {
		lead = s.nameOf(st.Vote)
	}
	if v := s.currentView(); lead == "" && v.group == m.group {
		lead = v.leader
	}
	if lead == "" {
		lead = m.via // it heard nothing yet: the node whose message started it knows more
	}
	ctx, cancel := context.WithTimeout(s.ctx, departTimeout)
	defer cancel()
	for try := 0; try < 2 && lead != ""; try++ {
		var resp doResp
		err := s.node.Call(ctx, lead, methodLeave, leaveReq{Group: m.group, ID: m.id}, &resp)
		if err == nil && !resp.NotLeader {
			return m.id
		}
		s.log.Debug("removal not asked for at close", "leader", lead, "err", err, "not-leader", resp.NotLeader)
		lead = resp.Leader
	}
	return 0
}

// yieldTimeout bounds yieldLeadership: about an election timeout.
const yieldTimeout = 250 * time.Millisecond

// yieldLeadership hands the group's leadership to a caught-up voter when
// this member leads and its node stays up, so that closing a node's last
// Manager or Elector costs the group no election timeout (the others
// would otherwise wait 100-190 ms to notice that the leader went quiet).
func (s *Service) yieldLeadership() {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil {
		return
	}
	st, err := m.g.Status()
	if err != nil || st.State != raft.StateLeader {
		return
	}
	if to := s.successor(m, st); to != 0 {
		ctx, cancel := context.WithTimeout(s.ctx, yieldTimeout)
		defer cancel()
		if err := m.g.TransferLeadership(ctx, to); err != nil {
			s.log.Debug("leadership not handed over at close", "err", err)
		}
	}
}

// stop cancels the service's work and stops its member.
func (s *Service) stop() {
	s.mu.Lock()
	s.stopping = true
	m := s.m
	s.m = nil
	s.mu.Unlock()
	s.cancel()
	if m != nil {
		m.g.Close()
	}
}

// setIDTag gossips this incarnation's Raft ID (none while leaving).
func (s *Service) setIDTag() {
	s.mu.Lock()
	tag := strconv.FormatUint(s.rid, 16)
	switch {
	case s.leaving && s.m != nil:
		// Handing over: its peers must still reach its member (Raft
		// messages go by this tag), but it is no candidate any more.
		tag = "-" + tag
	case s.leaving, s.node.NonVoter():
		// A non-voter gossips no ID: no autopilot adds it, and it
		// never counts (nor founds) among the members running the
		// service.
		tag = ""
	}
	s.tags[tagID] = tag
	s.mu.Unlock()
	s.pokeTags()
}

// setRole gossips this node's role in its group ("" for none).
func (s *Service) setRole(role string) {
	s.mu.Lock()
	same := s.role == role
	s.role, s.tags[tagRole] = role, role
	s.mu.Unlock()
	if !same {
		s.pokeTags()
	}
}

func (s *Service) pokeTags() {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return
	}
	select {
	case s.tagsChanged <- struct{}{}:
	default:
	}
}

// tagLoop gossips the service's tags. It runs apart from the loop:
// SetTags can wait for its broadcast (memberlist waits up to its
// broadcast timeout when nobody takes the update).
func (s *Service) tagLoop() {
	defer s.wg.Done()
	set := map[string]string{}
	for {
		select {
		case <-s.tagsChanged:
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		want := maps.Clone(s.tags)
		s.mu.Unlock()
		if maps.Equal(want, set) {
			continue
		}
		if err := s.node.SetTags(want); err != nil {
			s.log.Debug("voter tags not set", "err", err)
			continue
		}
		set = want
	}
}

// spawnLive runs f on a goroutine that close waits for, unless the
// service is stopping (then it reports false and runs nothing). A
// handler, which may still run while close waits, starts goroutines so.
func (s *Service) spawnLive(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.spawn(f)
	return true
}

// spawn runs f on a goroutine that close waits for. Only the service's
// own goroutines call it (close waits for them first).
func (s *Service) spawn(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Service) String() string { return fmt.Sprintf("voters(%s)", s.node.Name()) }
