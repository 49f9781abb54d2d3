package voters_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/sim"
	"github.com/gossipsync/gossipsync/voters"
)

// pacer issues a command through s every 10 ms and records when each
// succeeded, to measure the gaps in service.
type pacer struct {
	mu   sync.Mutex
	oks  []time.Time
	errs int
}

func (p *pacer) run(s *voters.Service, stop <-chan struct{}) {
	h := leases.Holder{Node: "pacer"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cmd := claim("paced", h, time.Minute)
		if i%2 == 1 {
			cmd = leases.Cmd{Op: leases.OpRelease, Key: "paced", Holder: h}
		}
		_, err := s.Do(ctx, []leases.Cmd{cmd})
		cancel()
		p.mu.Lock()
		if err == nil {
			p.oks = append(p.oks, time.Now())
		} else {
			p.errs++
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

// maxGap returns the longest time between two successes within
// [from, to], the bounds counting as successes.
func (p *pacer) maxGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gap time.Duration
	prev := from
	for _, t := range p.oks {
		if t.Before(from) || t.After(to) {
			continue
		}
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return max(gap, to.Sub(prev))
}

// A voter that leaves gracefully, and then the leader, are removed from
// the configuration before they are gone (their BeforeLeave hook hands
// leadership over and asks for the removal), new voters replace them,
// and a client issuing a command every 10 ms sees no gap longer than
// about an election timeout (10 to 20 ticks of 10 ms).
func TestLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 7, 9)
		e.c.SetDelay(time.Millisecond, 3*time.Millisecond)
		e.waitWhole(20*time.Second, 5)
		waitFor(t, 10*time.Second, "no learners", func() bool { return len(e.leaderState().Learners) == 0 })
		// The client is one of the two nodes outside the group.
		client := ""
		for _, name := range sortedKeys(e.live()) {
			if e.s(name).State().ID == 0 {
				client = name
				break
			}
		}
		// On leaving, between the node's Leave and its Close, the leader
		// (another node) must have removed it.
		var leaving struct {
			sync.Mutex
			name    string
			id      uint64
			checked bool
		}
		e.c.AddHooks(sim.Hooks{OnCrash: func(name string) {
			leaving.Lock()
			defer leaving.Unlock()
			if name != leaving.name {
				return
			}
			leaving.checked = true
			lead := ""
			waitFor(t, 2*time.Second, "a leader", func() bool { lead = e.leader(); return lead != "" && lead != name })
			st := e.s(lead).State()
			if slices.Contains(st.Voters, leaving.id) || slices.Contains(st.Learners, leaving.id) {
				t.Errorf("%s left, but leader %s still has its member %x: voters %x learners %x", name, lead, leaving.id, st.Voters, st.Learners)
			}
			if role := e.s(name).Info().Role; role != "" {
				t.Errorf("%s left with role %q", name, role)
			}
		}})
		p := &pacer{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { p.run(e.s(client), stop) })
		// Load besides, so that the leader's log is seldom idle when it
		// hands over.
		for i := range 4 {
			wg.Go(func() {
				h := leases.Holder{Node: "load"}
				for j := 0; ; j++ {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					e.s(client).Do(ctx, []leases.Cmd{claim(fmt.Sprintf("load/%d/%d", i, j%8), h, 50*time.Millisecond)})
					cancel()
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
		stopPacer := sync.OnceFunc(func() {
			close(stop)
			wg.Wait()
		})
		defer stopPacer()
		time.Sleep(time.Second)
		for _, which := range []string{"a follower", "the leader"} {
			name := e.leader()
			if which == "a follower" {
				for _, n := range sortedKeys(e.live()) {
					if st := e.s(n).State(); st.ID != 0 && !st.Leader {
						name = n
						break
					}
				}
			}
			leaving.Lock()
			leaving.name, leaving.id, leaving.checked = name, e.s(name).State().ID, false
			leaving.Unlock()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := e.c.Leave(ctx, name); err != nil {
				t.Fatalf("Leave(%s): %v", name, err)
			}
			cancel()
			left := time.Since(start)
			e.mu.Lock()
			delete(e.ss, name)
			e.mu.Unlock()
			took := e.waitWhole(20*time.Second, 5)
			time.Sleep(time.Second)
			gap := p.maxGap(start, time.Now())
			t.Logf("%s (%s) left in %v; 5 voters again %v later; longest gap between successful commands: %v",
				which, name, left, took, gap)
			leaving.Lock()
			if !leaving.checked {
				t.Errorf("the leave of %s ran no hook", name)
			}
			leaving.Unlock()
			// It asks for its removal, and hands leadership over: it
			// does not wait to be found missing (failAfter, 2 s).
			if left > time.Second {
				t.Errorf("%s took %v to leave", name, left)
			}
			if gap > 250*time.Millisecond {
				t.Errorf("a gap of %v without a successful command while %s left", gap, name)
			}
		}
		stopPacer()
		if p.errs > 0 {
			t.Errorf("%d commands failed", p.errs)
		}
	})
}
