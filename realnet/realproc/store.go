package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gossipsync/gossipsync/realnet"
)

// runStore serves the fenced store: "W id token node" is accepted when
// token is not below the last token accepted for id (lockmgr.Fence's
// rule), refused otherwise; each answer is logged.
func runStore(args []string) error {
	fs := flag.NewFlagSet("store", flag.ContinueOnError)
	bind := fs.String("bind", "", "address to listen on")
	history := fs.String("history", "", "history file to append to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bind == "" || *history == "" {
		return errors.New("store: -bind and -history are required")
	}
	h, err := realnet.Create(*history)
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *bind)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	s := &store{h: h, last: map[string]uint64{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() { s.serve(ctx, c) })
	}
}

type store struct {
	h    *realnet.Writer
	mu   sync.Mutex
	last map[string]uint64
}

func (s *store) serve(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		reply := s.handle(strings.Fields(line))
		if _, err := fmt.Fprintln(c, reply); err != nil {
			return
		}
	}
}

// handle decides one request and logs the decision before answering, so
// the log holds every write a node was told was accepted.
func (s *store) handle(f []string) string {
	if len(f) != 4 || f[0] != "W" {
		return "ERR want: W id token node"
	}
	token, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return "ERR bad token"
	}
	id, node := f[1], f[3]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := realnet.Event{Node: node, ID: id, Token: token, At: time.Now()}
	if last := s.last[id]; token < last {
		e.T, e.Err = "refuse", fmt.Sprintf("stale %d < %d", token, last)
		s.h.Write(e)
		return e.Err
	}
	s.last[id] = token
	e.T = "accept"
	s.h.Write(e)
	return "OK"
}

// runDial exits 0 when a TCP connection to -addr opens within -timeout:
// the suite's check that a cut cuts and a heal heals.
func runDial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	addr := fs.String("addr", "", "address to dial")
	timeout := fs.Duration("timeout", time.Second, "how long to try")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", *addr, *timeout)
	if err != nil {
		return err
	}
	fmt.Println(time.Since(start)) // how long the handshake took
	return c.Close()
}
