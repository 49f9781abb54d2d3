package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// discardLogger is the logger used when Config.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)

// stdLogger adapts l to the *log.Logger that serf and memberlist write to.
// Their lines start with "[LEVEL] "; that prefix becomes the slog level.
func stdLogger(l *slog.Logger) *log.Logger {
	return log.New(&levelWriter{l: l}, "", 0)
}

type levelWriter struct {
	l *slog.Logger
	// limit, when set, decides which warnings and errors are written;
	// count counts them all. Set before the first Write.
	limit *logLimiter
	count *atomic.Uint64
}

var _ io.Writer = (*levelWriter)(nil)

var levelPrefixes = []struct {
	prefix []byte
	level  slog.Level
}{
	{[]byte("[TRACE] "), slog.LevelDebug - 4},
	{[]byte("[DEBUG] "), slog.LevelDebug},
	{[]byte("[INFO] "), slog.LevelInfo},
	{[]byte("[WARN] "), slog.LevelWarn},
	{[]byte("[ERR] "), slog.LevelError},
	{[]byte("[ERROR] "), slog.LevelError},
}

func (w *levelWriter) Write(p []byte) (int, error) {
	msg, level := bytes.TrimRight(p, "\n"), slog.LevelInfo
	for _, lp := range levelPrefixes {
		if bytes.HasPrefix(msg, lp.prefix) {
			msg, level = msg[len(lp.prefix):], lp.level
			break
		}
	}
	if level >= slog.LevelWarn && w.limit != nil {
		w.count.Add(1)
		if !w.limit.allow(messageKind(msg)) {
			return len(p), nil
		}
	}
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(msg))
	}
	return len(p), nil
}

// messageKind is what a serf or memberlist line is limited by: its
// constant start, before the first detail ("memberlist: Decrypt packet
// failed: <error> from=<addr>" is "Decrypt packet failed").
func messageKind(msg []byte) string {
	s := string(msg)
	if i := strings.Index(s, ": "); i > 0 && !strings.Contains(s[:i], " ") {
		s = s[i+2:] // the "memberlist: " prefix
	}
	if i := strings.IndexAny(s, ":(\"'=0123456789"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 48 {
		s = s[:48]
	}
	return strings.TrimSpace(s)
}

// Under a flood of bad input (a port scan, a stream of junk packets) a
// node would write a line per connection or packet. Warnings of the
// kinds below are rate-limited instead: per kind and interval, the first
// logBurst are written, the rest are counted, and one line at the end of
// the interval says how many were left out.
const (
	logBurst    = 5
	logInterval = 10 * time.Second
	logMaxKinds = 32 // further kinds share one, "other"
)

// logLimiter decides which records of one source are written. The zero
// value is not usable; see newLogLimiter. Safe for concurrent use.
type logLimiter struct {
	// summary writes the line that says dropped records of kind were
	// left out in the last d. It is called without mu held.
	summary func(kind string, dropped int, d time.Duration)

	mu     sync.Mutex     // protects the fields below
	start  time.Time      // of the current interval; zero between intervals
	counts map[string]int // records per kind in the current interval
	timer  *time.Timer    // ends an interval in which records were dropped
	closed bool
}

func newLogLimiter(summary func(kind string, dropped int, d time.Duration)) *logLimiter {
	return &logLimiter{summary: summary, counts: map[string]int{}}
}

// allow counts one record of kind and reports whether to write it.
func (l *logLimiter) allow(kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true
	}
	now := time.Now()
	if l.start.IsZero() || l.timer == nil && now.Sub(l.start) >= logInterval {
		l.start = now
		clear(l.counts)
	}
	if _, ok := l.counts[kind]; !ok && len(l.counts) >= logMaxKinds {
		kind = "other"
	}
	l.counts[kind]++
	if l.counts[kind] <= logBurst {
		return true
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.start.Add(logInterval).Sub(now), l.flush)
	}
	return false
}

// flush ends the interval and writes its summaries.
func (l *logLimiter) flush() {
	l.mu.Lock()
	sums, d := l.endLocked()
	l.mu.Unlock()
	l.write(sums, d)
}

// close writes the summaries of the interval under way; records after
// close are all written.
func (l *logLimiter) close() {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	sums, d := l.endLocked()
	l.mu.Unlock()
	l.write(sums, d)
}

type logSummary struct {
	kind    string
	dropped int
}

func (l *logLimiter) endLocked() ([]logSummary, time.Duration) {
	var sums []logSummary
	for kind, n := range l.counts {
		if n > logBurst {
			sums = append(sums, logSummary{kind, n - logBurst})
		}
	}
	d := time.Since(l.start)
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	l.start, l.timer = time.Time{}, nil
	clear(l.counts)
	slices.SortFunc(sums, func(a, b logSummary) int { return strings.Compare(a.kind, b.kind) })
	return sums, d
}

func (l *logLimiter) write(sums []logSummary, d time.Duration) {
	for _, s := range sums {
		l.summary(s.kind, s.dropped, d)
	}
}

// nodeLogs holds a node's log limiters and the counters it keeps instead
// of a line per event (a later issue exports them as metrics).
type nodeLogs struct {
	refused    *logLimiter   // inbound RPC connections refused in the handshake, by error code
	gossip     []*logLimiter // serf's and memberlist's warnings and errors, by kind
	rpcRefused atomic.Uint64 // inbound RPC connections refused in the handshake
	gossipWarn atomic.Uint64 // serf's and memberlist's warnings and errors (bad packets and streams, mostly)
}

func newNodeLogs(l *slog.Logger) *nodeLogs {
	return &nodeLogs{refused: newLogLimiter(func(kind string, dropped int, d time.Duration) {
		l.Warn(fmt.Sprintf("%d more rpc connections refused in the last %v", dropped, d), "reason", kind, "dropped", dropped)
	})}
}

// limitGossip puts the warnings and errors that serf and memberlist write
// (see stdLogger) under limiters of their own: memberlist logs an error
// for every bad packet and stream it receives.
func (g *nodeLogs) limitGossip(sc *serf.Config) {
	for _, l := range []*log.Logger{sc.Logger, sc.MemberlistConfig.Logger} {
		w, ok := l.Writer().(*levelWriter)
		if !ok {
			continue
		}
		w.count = &g.gossipWarn
		w.limit = newLogLimiter(func(kind string, dropped int, d time.Duration) {
			w.l.Warn(fmt.Sprintf("%d more warnings and errors like %q in the last %v", dropped, kind, d), "kind", kind, "dropped", dropped)
		})
		g.gossip = append(g.gossip, w.limit)
	}
}

// close writes the summaries of the intervals under way.
func (g *nodeLogs) close() {
	g.refused.close()
	for _, l := range g.gossip {
		l.close()
	}
}

// logRefused logs an inbound RPC connection that the handshake refused,
// within the limiter's bounds, and counts it.
func (n *Node) logRefused(nc net.Conn, peer string, err error) {
	n.logs.rpcRefused.Add(1)
	kind := codeOf(err)
	if kind == "" {
		kind = "other"
	}
	if n.logs.refused.allow(kind) {
		n.log.Warn("rpc connection refused", "remote", nc.RemoteAddr().String(), "peer", peer, "err", err)
	}
}
