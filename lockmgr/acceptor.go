package lockmgr

import (
	"context"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/internal/pernode"
)

// A server is the per-node side of every Manager on a node: the acceptor
// of every id, and the coordinator of the ids this node is asked to
// serve. One server lives while its node has at least one Manager.
type server struct {
	node *cluster.Node
	// quietUntil: a new acceptor grants nothing before this time: it may
	// be a restarted node that forgot a live grant.
	quietUntil time.Time
	ctx        context.Context // canceled when the last Manager closes
	cancel     context.CancelFunc

	mu  sync.Mutex // protects ids
	ids map[string]*accState

	qmu    sync.Mutex // protects queues
	queues map[string]*idQueue
}

// accState is an acceptor's record of one id. It is kept forever, so
// that promised never goes back.
type accState struct {
	promised uint64  // highest token granted
	holder   *holder // current grant, valid until expiry
	token    uint64
	expiry   time.Time
	// released: the highest token its holder released for good. A
	// renewal of it that arrives late must not bring the grant back.
	released uint64
}

// servers holds each node's server.
var servers pernode.Registry[*cluster.Node, *server]

// acquireServer returns the node's server, registering its handlers on
// first use.
func acquireServer(n *cluster.Node, lockDelay time.Duration) *server {
	return servers.Acquire(n, func() *server {
		s := &server{node: n, quietUntil: time.Now().Add(lockDelay), ids: map[string]*accState{}, queues: map[string]*idQueue{}}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.register()
		return s
	})
}

func (s *server) register() {
	n := s.node
	cluster.HandleFunc(n, methodClaim, func(_ context.Context, _ string, r claimReq) (claimResp, error) {
		return s.claim(r, time.Now()), nil
	})
	cluster.HandleFunc(n, methodRenew, func(_ context.Context, _ string, r claimReq) (claimResp, error) {
		return s.renew(r, time.Now()), nil
	})
	cluster.HandleFunc(n, methodRelease, func(_ context.Context, _ string, r releaseReq) (struct{}, error) {
		s.release(r)
		if r.Final { // the holder is done: serve the next waiter, if queued here
			s.wake(r)
		}
		return struct{}{}, nil
	})
	cluster.HandleFunc(n, methodAcquire, s.acquire)
	cluster.HandleFunc(n, methodWake, func(_ context.Context, _ string, r wakeReq) (struct{}, error) {
		if r.Release.ID == "" { // a bare wake, from an older node
			r.Release = releaseReq{ID: r.ID}
		}
		s.wake(r.Release)
		return struct{}{}, nil
	})
	cluster.HandleFunc(n, methodCancel, func(_ context.Context, _ string, r cancelReq) (struct{}, error) {
		s.cancelWaiter(r.ID, r.Holder)
		return struct{}{}, nil
	})
}

// releaseServer drops a reference; the last one unregisters the handlers
// and ends the coordinator's waiters.
func releaseServer(s *server) {
	servers.Release(s.node, func(s *server) {
		for _, m := range []string{methodClaim, methodRenew, methodRelease, methodAcquire, methodWake, methodCancel} {
			s.node.Handle(m, nil)
		}
		s.cancel()
	})
}

func (s *server) stateLocked(id string) *accState {
	a := s.ids[id]
	if a == nil {
		a = &accState{}
		s.ids[id] = a
	}
	return a
}

func (a *accState) liveLocked(now time.Time) bool {
	return a.holder != nil && now.Before(a.expiry)
}

// claim grants a new lease: only for a token above every promise, while
// no other holder's grant is live, and not while quiet. It first applies
// the relayed release r.Free, as if the previous holder's own release had
// arrived just before.
func (s *server) claim(r claimReq, now time.Time) claimResp {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.stateLocked(r.ID)
	if f := r.Free; f != nil && f.Final && f.ID == r.ID && f.Holder != r.Holder {
		a.releaseLocked(*f)
	}
	live := a.liveLocked(now)
	if live && *a.holder != r.Holder {
		return claimResp{Promised: a.promised, Blocked: a.expiry.Sub(now)}
	}
	if live && a.token == r.Token { // a repeated claim
		return claimResp{Granted: true, Promised: a.promised}
	}
	if now.Before(s.quietUntil) {
		return claimResp{Promised: a.promised, Quiet: s.quietUntil.Sub(now)}
	}
	if r.Token <= a.promised {
		return claimResp{Promised: a.promised}
	}
	a.grantLocked(r, now)
	return claimResp{Granted: true, Promised: a.promised}
}

// renew extends the holder's live grant, or joins a lease this acceptor
// missed: when it holds no live grant, the token is not below its
// promise, and it is not quiet (a restarted acceptor may have granted a
// newer token it forgot).
func (s *server) renew(r claimReq, now time.Time) claimResp {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.stateLocked(r.ID)
	live := a.liveLocked(now)
	same := live && *a.holder == r.Holder && a.token == r.Token
	if !same && (live || r.Token < a.promised || r.Token <= a.released || now.Before(s.quietUntil)) {
		return claimResp{Promised: a.promised}
	}
	a.grantLocked(r, now)
	return claimResp{Granted: true, Promised: a.promised}
}

func (a *accState) grantLocked(r claimReq, now time.Time) {
	h := r.Holder
	a.promised, a.holder, a.token = max(a.promised, r.Token), &h, r.Token
	a.expiry = now.Add(holdFor(r.TTL))
}

func (s *server) release(r releaseReq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked(r.ID).releaseLocked(r)
}

// releaseLocked frees the grant of r.Holder if it matches, and with
// Final records that the token is done for good.
func (a *accState) releaseLocked(r releaseReq) {
	if a.holder != nil && *a.holder == r.Holder && (r.Token == 0 || r.Token == a.token) {
		if r.Final {
			a.released = max(a.released, a.token)
		}
		a.holder = nil
	}
	if r.Final {
		a.released = max(a.released, r.Token)
	}
}
