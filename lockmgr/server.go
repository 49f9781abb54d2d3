package lockmgr

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/voters"
)

// A server is the per-node side of every Manager on a node: the
// coordinator of the ids this node is asked to serve, and the node's
// handle on the voter group that grants them. One server lives while its
// node has at least one Manager.
type server struct {
	node       *cluster.Node
	svc        *voters.Service
	releaseSvc func()
	ctx        context.Context // canceled when the last Manager closes
	cancel     context.CancelFunc
	wg         sync.WaitGroup // the local table's expiry loop, renewal requests

	// local holds the grants of Quorum(false) Managers coordinated
	// here: this node's own table, replicated nowhere (see Quorum).
	local     *leases.Table
	localOnce sync.Once

	qmu    sync.Mutex // protects queues, managerless*, names* and waitersFrom
	queues map[string]*idQueue
	// managerlessName answered an acquisition at managerlessAt with
	// ErrUnknownMethod: it runs no Manager (see coordinators).
	managerlessName string
	managerlessAt   time.Time
	// names are the voting members at member list version
	// namesVersion, if namesSeen (see votingNames).
	names        []string
	namesVersion uint64
	namesSeen    bool
	// waitersFrom counts the acquisitions waiting here by the node that
	// sent them (admit).
	waitersFrom map[string]int

	renewals renewals // the holders' renewals, coalesced (renewals.go)
}

type serverKey struct{}

// acquireServer returns the node's server, registering its handlers on
// first use, and the function that drops this reference.
func acquireServer(n *cluster.Node) (*server, func()) {
	v, release := n.Shared(serverKey{}, func() any {
		s := &server{node: n, local: leases.New(), queues: map[string]*idQueue{}}
		s.local.Apply([]leases.Cmd{{Op: leases.OpFound}}, n.Clock().Now())
		s.svc, s.releaseSvc = voters.Acquire(n)
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.renewals.s = s
		s.register()
		return s
	}, func(v any) { v.(*server).close() })
	return v.(*server), release
}

func (s *server) register() {
	n := s.node
	cluster.HandleFunc(n, methodAcquire, s.acquire)
	cluster.HandleFunc(n, methodWake, func(_ context.Context, _ string, r wakeReq) (struct{}, error) {
		s.wake(r.Release)
		return struct{}{}, nil
	})
	cluster.HandleFunc(n, methodCancel, func(_ context.Context, _ string, r cancelReq) (struct{}, error) {
		s.cancelWaiter(r.ID, r.Holder)
		return struct{}{}, nil
	})
	cluster.HandleFunc(n, methodLocal, func(_ context.Context, _ string, cmds []leases.Cmd) ([]leases.Result, error) {
		return s.applyLocal(cmds), nil
	})
}

// close unregisters the handlers, ends the coordinator's waiters and
// drops the node's voter service.
func (s *server) close() {
	for _, m := range []string{methodAcquire, methodWake, methodCancel, methodLocal} {
		s.node.Handle(m, nil)
	}
	s.cancel()
	s.renewals.close()
	s.wg.Wait()
	s.releaseSvc()
}

// applyLocal applies cmds to this node's own table (Quorum(false)),
// starting its expiry loop on first use.
func (s *server) applyLocal(cmds []leases.Cmd) []leases.Result {
	s.localOnce.Do(func() {
		s.wg.Add(1)
		go s.expireLocal()
	})
	return s.local.Apply(cmds, s.node.Clock().Now())
}

func (s *server) expireLocal() {
	defer s.wg.Done()
	clk := s.node.Clock()
	t := clk.NewTicker(localTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			now := clk.Now()
			if cmds := s.local.Expired(now); len(cmds) > 0 {
				s.local.Apply(cmds, now)
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// localTick is how often the local table looks for expired grants.
const localTick = 20 * time.Millisecond

// do applies cmds where the grants of a Manager in this mode are
// decided: the voter group in quorum mode; else the table of coord, the
// node that coordinated the grant (this node when coord is its name).
func (s *server) do(ctx context.Context, quorum bool, coord string, cmds []leases.Cmd) ([]leases.Result, error) {
	if quorum {
		return s.svc.Do(ctx, cmds)
	}
	if coord == s.node.Name() {
		return s.applyLocal(cmds), nil
	}
	var res []leases.Result
	err := s.node.Call(ctx, coord, methodLocal, cmds, &res)
	return res, err
}

// release frees a holder's grant: in quorum mode it returns once the
// voters' leader has appended the release to its log (DoAppended: see
// Releases in the package doc), in Quorum(false) mode once coord's
// table applied it. Its outcome is not reported: a release that did not
// take effect leaves a grant that expires, as a crashed holder's does.
func (s *server) release(ctx context.Context, quorum bool, coord string, c leases.Cmd) {
	if quorum {
		s.svc.DoAppended(ctx, []leases.Cmd{c})
		return
	}
	s.do(ctx, quorum, coord, []leases.Cmd{c})
}

// key is the lease table key of lock id.
func key(id string) string { return "l/" + id }
