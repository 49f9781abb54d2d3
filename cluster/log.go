package cluster

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
)

// discardLogger is the logger used when Config.Logger is nil.
var discardLogger = slog.New(slog.DiscardHandler)

// stdLogger adapts l to the *log.Logger that serf and memberlist write to.
// Their lines start with "[LEVEL] "; that prefix becomes the slog level.
func stdLogger(l *slog.Logger) *log.Logger {
	return log.New(&levelWriter{l: l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

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
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(msg))
	}
	return len(p), nil
}
