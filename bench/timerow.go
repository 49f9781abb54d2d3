package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gossipsync/gossipsync/clock"
)

// The time row's shape.
const (
	clockNodes    = 5
	clockSkewStep = time.Second // node i's physical clock is off by (i-2) s
	clockEvery    = 5 * time.Millisecond
	clockSyncWait = 30 * time.Second
	echoRounds    = 5000
)

func timeRow() row {
	return row{
		name:  "time",
		title: "Time: clock.Interval on 5 nodes, skewed sources",
		setup: "5 gossipsync nodes on 127.0.0.1 (Local profile: a sample of the reference every " +
			"100 ms), each Clock's physical source off by -2, -1, 0, +1 or +2 s. Every 5 ms the row " +
			"reads every node's Interval; the absolute error is the distance from the middle of a non-reference " +
			"node's Interval to the reference's time at that instant (the reference's own reading, " +
			"moved by the real time between the two), uncertainty is half the Interval's width, and the sample RTT is Stats.RTT, the round trip of the best sample the node keeps (an RPC). The " +
			"floor is half the round trip of one byte over a loopback TCP connection: a Cristian " +
			"exchange cannot bound time tighter than RTT/2. No peer: etcd and Redis keep no time.",
		custom: measureTime,
	}
}

// reading is one node's Interval and the real instants around it.
type reading struct {
	iv     clock.Interval
	st     clock.Stats
	center time.Time     // midway between the instants before and after the read
	half   time.Duration // half the read's duration: how far off center it may have been taken
	ok     bool
}

// measureTime starts the 5 nodes and their Clocks, waits until all are
// synced, reads them for the row's time and measures loopback's RTT.
func measureTime(ctx context.Context, _ *env, cfg config, log io.Writer) []result {
	lines := []result{
		{System: "gossipsync, absolute error", Gossipsync: true},
		{System: "gossipsync, uncertainty (±)", Gossipsync: true},
		{System: "gossipsync, its best sample's RTT/2", Gossipsync: true},
		{System: "floor: loopback TCP RTT/2"},
	}
	fail := func(err error) []result {
		lines[0].Skipped = "failed: " + err.Error()
		return lines[:1]
	}
	fmt.Fprintln(log, "   start 5 nodes with Clocks")
	nodes, err := startNodes(ctx, "c", clockNodes)
	if err != nil {
		return fail(err)
	}
	defer closeNodes(nodes)
	var clks []*clock.Clock
	defer func() {
		for _, c := range clks {
			c.Close()
		}
	}()
	for i, n := range nodes {
		skew := time.Duration(i-2) * clockSkewStep
		c, err := clock.New(n, clock.Source(func() time.Time { return time.Now().Add(skew).Round(0) }))
		if err != nil {
			return fail(err)
		}
		clks = append(clks, c)
	}
	if err := waitSynced(ctx, clks); err != nil {
		return fail(err)
	}
	time.Sleep(cfg.warmup)
	var errs, unc, half []time.Duration
	outside := 0
	for until := time.Now().Add(time.Duration(cfg.rounds) * cfg.slice); time.Now().Before(until) && ctx.Err() == nil; time.Sleep(clockEvery) {
		rs := readAll(clks)
		ref := -1
		for i, r := range rs {
			if r.ok && r.st.IsReference {
				ref = i
			}
		}
		if ref < 0 {
			continue
		}
		for i, r := range rs {
			if i == ref || !r.ok || r.st.Term != rs[ref].st.Term {
				continue
			}
			truth := mid(rs[ref].iv).Add(r.center.Sub(rs[ref].center))
			errs = append(errs, abs(mid(r.iv).Sub(truth)))
			unc = append(unc, r.iv.Uncertainty())
			half = append(half, r.st.RTT/2)
			// Allow for not knowing when within its read each reading was taken.
			slack := r.half + rs[ref].half
			if truth.Before(r.iv.Earliest.Add(-slack)) || truth.After(r.iv.Latest.Add(slack)) {
				outside++
			}
		}
	}
	rtt, err := loopbackRTT()
	if err != nil {
		return fail(err)
	}
	for i, ds := range [][]time.Duration{errs, unc, half, halve(rtt)} {
		lines[i].N = len(ds)
		lines[i].P50us = micros(percentile(ds, 50))
		lines[i].P99us = micros(percentile(ds, 99))
	}
	lines[0].Note = fmt.Sprintf("%d outside their Interval", outside)
	for _, l := range lines {
		fmt.Fprintf(log, "   %-28s %s\n", l.System, summary(l))
	}
	return lines
}

// waitSynced waits until every Clock gives an Interval.
func waitSynced(ctx context.Context, clks []*clock.Clock) error {
	deadline := time.Now().Add(clockSyncWait)
	for {
		synced := 0
		for _, r := range readAll(clks) {
			if r.ok {
				synced++
			}
		}
		if synced == len(clks) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d clocks synced after %v", synced, len(clks), clockSyncWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAll reads every Clock once, one after the other.
func readAll(clks []*clock.Clock) []reading {
	rs := make([]reading, len(clks))
	for i, c := range clks {
		t0 := time.Now()
		iv, err := c.Interval()
		t1 := time.Now()
		rs[i] = reading{iv: iv, st: c.Stats(), center: t0.Add(t1.Sub(t0) / 2), half: t1.Sub(t0) / 2, ok: err == nil}
	}
	return rs
}

// loopbackRTT times echoRounds one-byte round trips over a loopback TCP
// connection.
func loopbackRTT() ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rtt := make([]time.Duration, 0, echoRounds)
	b := []byte{1}
	for range echoRounds {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, err
		}
		rtt = append(rtt, time.Since(t0))
	}
	return rtt, nil
}

func halve(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / 2
	}
	return out
}

func mid(iv clock.Interval) time.Time { return iv.Earliest.Add(iv.Latest.Sub(iv.Earliest) / 2) }

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
