package taskpool

import "context"

// Tick identifies one run of a schedule (Schedule): tick N of the
// schedule named Schedule, run by the leader of the schedule's election
// group in term Term. A leader change may run a tick again (see the
// package doc), and a leader frozen past its lease may still be running
// one: fence a scheduled command's effects with (Term, N), as a lock's
// writes are fenced with its token. A resource that keeps the highest
// pair it has seen and refuses lower ones admits each tick's effects
// from one leader at a time, in order of terms.
type Tick struct {
	Schedule string
	N        int64
	Term     uint64
}

type tickKey struct{}

// TickOf returns the tick a registered command's handler runs for, when
// Schedule ran it; ok is false for a Run of anyone else. (A Func command
// has no ctx: schedule a registered command to read its tick.)
func TickOf(ctx context.Context) (t Tick, ok bool) {
	t, ok = ctx.Value(tickKey{}).(Tick)
	return t, ok
}

// withTick returns ctx carrying t.
func withTick(ctx context.Context, t Tick) context.Context {
	return context.WithValue(ctx, tickKey{}, t)
}

// tickPtr returns ctx's tick for a run request, nil if none.
func tickPtr(ctx context.Context) *Tick {
	if t, ok := TickOf(ctx); ok {
		return &t
	}
	return nil
}
