package raftgroup

import (
	"context"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
)

// raftLogger adapts raft's Logger to slog. Fatal and Panic are raft's
// reports of a broken invariant (a corrupt log, a storage error): they are
// logged at Error and then panic, as raft's own logger does, rather than
// exit the process.
type raftLogger struct{ l *slog.Logger }

var _ raft.Logger = raftLogger{}

func (r raftLogger) log(level slog.Level, v []any) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, fmt.Sprint(v...), "component", "raft")
	}
}

func (r raftLogger) logf(level slog.Level, format string, v []any) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "raft")
	}
}

func (r raftLogger) Debug(v ...any)                 { r.log(slog.LevelDebug, v) }
func (r raftLogger) Debugf(format string, v ...any) { r.logf(slog.LevelDebug, format, v) }
func (r raftLogger) Info(v ...any)                  { r.log(slog.LevelInfo, v) }
func (r raftLogger) Infof(format string, v ...any)  { r.logf(slog.LevelInfo, format, v) }
func (r raftLogger) Warning(v ...any)               { r.log(slog.LevelWarn, v) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.logf(slog.LevelWarn, format, v)
}
func (r raftLogger) Error(v ...any)                 { r.log(slog.LevelError, v) }
func (r raftLogger) Errorf(format string, v ...any) { r.logf(slog.LevelError, format, v) }

func (r raftLogger) Fatal(v ...any) { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) {
	r.Panicf(format, v...)
}

func (r raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	r.l.Error(msg, "component", "raft")
	panic("raftgroup: raft: " + msg)
}

func (r raftLogger) Panicf(format string, v ...any) {
	r.Panic(fmt.Sprintf(format, v...))
}
