package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/clock"
	"github.com/gossipsync/gossipsync/cluster"
	"github.com/gossipsync/gossipsync/election"
	"github.com/gossipsync/gossipsync/lockmgr"
	"github.com/gossipsync/gossipsync/realnet"
)

type nodeFlags struct {
	name, bind, join, keyFile, history, store string
	ids, clients, expect                      int
	ttl                                       time.Duration
}

// runNode runs a node with a lock Manager and lock clients that loop:
// Acquire one of -ids ids, write to the store with the token, hold for
// up to TTL/2, write again, Release; and an Elector that campaigns in
// one group, leads a while and resigns; and a clock.Clock, read every
// 100 ms. It runs until SIGTERM or SIGINT.
func runNode(args []string) error {
	var f nodeFlags
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.StringVar(&f.name, "name", "", "node name")
	fs.StringVar(&f.bind, "bind", "", "address to bind (ip:port)")
	fs.StringVar(&f.join, "join", "", "seeds, comma-separated")
	fs.StringVar(&f.keyFile, "key-file", "", "file holding the cluster's secret key")
	fs.StringVar(&f.history, "history", "", "history file to append to")
	fs.StringVar(&f.store, "store", "", "the store's address")
	fs.IntVar(&f.ids, "ids", 3, "lock ids the clients contend on")
	fs.IntVar(&f.clients, "clients", 2, "lock clients")
	fs.IntVar(&f.expect, "expect", 5, "cluster.Config.ExpectedSize")
	fs.DurationVar(&f.ttl, "ttl", time.Second, "lock TTL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.name == "" || f.bind == "" || f.keyFile == "" || f.history == "" || f.store == "" {
		return errors.New("node: -name, -bind, -key-file, -history and -store are required")
	}
	key, err := os.ReadFile(f.keyFile)
	if err != nil {
		return err
	}
	h, err := realnet.Create(f.history)
	if err != nil {
		return err
	}
	defer h.Close()
	pid := os.Getpid()
	h.Write(realnet.Event{T: "start", Node: f.name, PID: pid, At: time.Now()})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := cluster.New(cluster.Config{Name: f.name, BindAddr: f.bind, SecretKey: key,
		Profile: cluster.Local, ExpectedSize: f.expect, Logger: logger.With("node", f.name)})
	if err != nil {
		return err
	}
	defer n.Close()
	go joinLoop(ctx, n, f)
	m, err := lockmgr.New(n)
	if err != nil {
		return err
	}
	defer m.Close()
	e, err := election.New(n, election.Group("realnet"))
	if err != nil {
		return err
	}
	defer e.Close()
	clk, err := clock.New(n)
	if err != nil {
		return err
	}
	defer clk.Close()
	var wg sync.WaitGroup
	wg.Go(func() { readClock(ctx, clk, h, f.name, pid) })
	wg.Go(func() { campaign(ctx, e, h, f.name, pid, uint64(pid)*31+99) })
	for c := range f.clients {
		wg.Go(func() { lockClient(ctx, m, h, f, pid, uint64(pid)*31+uint64(c)) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// joinLoop joins the seeds, and again whenever this node sees no other
// member (it started before them, or came back from a partition alone).
func joinLoop(ctx context.Context, n *cluster.Node, f nodeFlags) {
	var seeds []string
	for _, s := range strings.Split(f.join, ",") {
		if s != "" && s != f.bind {
			seeds = append(seeds, s)
		}
	}
	for ctx.Err() == nil {
		if len(n.Members()) < 2 && len(seeds) > 0 {
			jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			n.Join(jctx, seeds...)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func lockClient(ctx context.Context, m *lockmgr.Manager, h *realnet.Writer, f nodeFlags, pid int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	st := &storeConn{addr: f.store}
	defer st.close()
	for ctx.Err() == nil {
		id := fmt.Sprintf("lock-%d", r.IntN(f.ids))
		called := time.Now()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, err := m.Acquire(actx, id, lockmgr.TTL(f.ttl))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				h.Write(realnet.Event{T: "err", Node: f.name, PID: pid, ID: id, At: time.Now(), Err: errKind(err)})
				sleep(ctx, 50*time.Millisecond)
			}
			continue
		}
		start := time.Now()
		if !l.Valid() {
			// Stopped or starved between the grant and start: the lease
			// may have lapsed before start, so start is no time it held.
			h.Write(realnet.Event{T: "err", Node: f.name, PID: pid, ID: id, At: time.Now(), Err: "lost at grant"})
			releaseLock(l)
			continue
		}
		h.Write(realnet.Event{T: "grant", Node: f.name, PID: pid, ID: id, Token: l.Token(), Called: called, At: start})
		// When Done closed: the use of the lock ends there at the
		// latest, even if a write was still on its way.
		doneAt := make(chan time.Time, 1)
		go func() { <-l.Done(); doneAt <- time.Now() }()
		ok, why := st.write(id, l.Token(), f.name)
		h.Write(realnet.Event{T: "write", Node: f.name, PID: pid, ID: id, Token: l.Token(), At: time.Now(), OK: ok, Err: why})
		select {
		case <-time.After(time.Duration(r.Int64N(int64(f.ttl / 2)))):
		case <-l.Done():
		case <-ctx.Done():
		}
		// A second write at the end of the hold: after a SIGSTOP longer
		// than the lease it is the late write the store must refuse
		// once a newer holder wrote.
		if ctx.Err() == nil {
			ok, why = st.write(id, l.Token(), f.name)
			h.Write(realnet.Event{T: "write", Node: f.name, PID: pid, ID: id, Token: l.Token(), At: time.Now(), OK: ok, Err: why})
		}
		end := time.Now()
		released := ctx.Err() == nil // the client ends its use by Release
		select {
		case t := <-doneAt:
			if t.Before(end) {
				end, released = t, false
			}
		default:
		}
		// Done may close late (a starved process notices its lease's end
		// late): the lease ended at its deadline at the latest.
		if d := l.Deadline(); d.Before(end) {
			end, released = d, false
		}
		releaseLock(l)
		h.Write(realnet.Event{T: "end", Node: f.name, PID: pid, ID: id, Token: l.Token(), At: end, OK: released})
	}
}

func errKind(err error) string {
	switch {
	case errors.Is(err, lockmgr.ErrNoQuorum):
		return "no quorum"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other: " + err.Error()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// storeConn is a client's connection to the store, dialed again after
// any error.
type storeConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

// write asks the store to accept a write of id with token: ok, or why
// not ("stale ..." from the store, or the network's error).
func (s *storeConn) write(id string, token uint64, node string) (bool, string) {
	if s.c == nil {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false, "dial: " + err.Error()
		}
		s.c, s.r = c, bufio.NewReader(c)
	}
	s.c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(s.c, "W %s %d %s\n", id, token, node); err != nil {
		s.close()
		return false, "send: " + err.Error()
	}
	line, err := s.r.ReadString('\n')
	if err != nil {
		s.close()
		return false, "reply: " + err.Error()
	}
	line = strings.TrimSpace(line)
	return line == "OK", line
}

func (s *storeConn) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

func releaseLock(l *lockmgr.Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.Release(ctx)
}
