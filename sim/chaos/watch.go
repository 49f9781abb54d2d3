package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/sim"
)

// settleGrace is how long after the cluster has settled from a heal or
// restart that a failure declared about a member that had been cut off
// still counts as detected.
const settleGrace = 2 * time.Second

// watcher reads every node's membership events and judges each declared
// failure. It counts as detected when the member was crashed or across the
// partition from the node that declared it. So does, until the cluster
// has settled after a heal or restart, a failure of a member that had been
// cut off from anyone: the verdict that one side reached during the fault
// reaches the other side by gossip after the heal, accurate but late.
// Every other failure is a false suspicion. Safe for concurrent use.
type watcher struct {
	c     *sim.Cluster
	out   *syncWriter
	start time.Time      // of the schedule, for the times it prints
	wg    sync.WaitGroup // the event readers

	mu struct {
		sync.Mutex
		staleUntil map[string]time.Time // per member: its failure may be old news until then
		detected   int
		suspected  int // false suspicions
	}
}

// forever marks old news whose end is not known yet.
var forever = time.Unix(1<<62, 0)

func newWatcher(c *sim.Cluster, out *syncWriter, start time.Time) *watcher {
	w := &watcher{c: c, out: out, start: start}
	w.mu.staleUntil = map[string]time.Time{}
	return w
}

// watch reads n's events until n closes. Once n has crashed, what it
// declares is ignored: the simulation closes a crashed node only after
// the crash hooks, and meanwhile its membership, cut off from the rest,
// declares the others failed, which a crashed process would not.
func (w *watcher) watch(n *cluster.Node) {
	events := n.Watch(context.Background(), 256).C // until the node closes
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for e := range events {
			if e.Type == cluster.EventFail && w.c.Node(n.Name()) == n {
				w.judge(n.Name(), e.Member.Name)
			}
		}
	}()
}

// judge counts a failure of member declared by observer.
func (w *watcher) judge(observer, member string) {
	cut := !slices.Contains(w.c.Expected(observer), member)
	w.mu.Lock()
	defer w.mu.Unlock()
	if cut || time.Now().Before(w.mu.staleUntil[member]) {
		w.mu.detected++
		return
	}
	w.mu.suspected++
	w.out.printf("[%6.1fs]   false suspicion: %s declared %s failed\n", time.Since(w.start).Seconds(), observer, member)
}

// recovering is called just before a heal or restart: it notes the
// members cut off from any node, whose failures are old news until
// settled is called.
func (w *watcher) recovering() {
	names := w.c.Names()
	var cut []string
	for _, o := range names {
		expected := w.c.Expected(o)
		for _, m := range names {
			if m != o && !slices.Contains(expected, m) && !slices.Contains(cut, m) {
				cut = append(cut, m)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range cut {
		w.mu.staleUntil[m] = forever
	}
}

// settled is called when the cluster has converged after a heal or
// restart (or stopped trying): old news ends settleGrace later.
func (w *watcher) settled() {
	end := time.Now().Add(settleGrace)
	w.mu.Lock()
	defer w.mu.Unlock()
	for m, t := range w.mu.staleUntil {
		if t.Equal(forever) {
			w.mu.staleUntil[m] = end
		}
	}
}

// counts returns the failures detected and the false suspicions so far.
func (w *watcher) counts() (detected, falseSuspicions int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.detected, w.mu.suspected
}

// wait waits for the event readers, which end when their nodes close.
func (w *watcher) wait() { w.wg.Wait() }

// syncWriter lets the schedule and the watcher print whole lines to one
// writer. Safe for concurrent use.
type syncWriter struct {
	mu sync.Mutex // protects w
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}
