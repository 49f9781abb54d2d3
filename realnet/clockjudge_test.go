package realnet

import (
	"testing"
	"time"
)

func TestClocks(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	const off = 40 * time.Millisecond // term 7's reference serves machine time + 40 ms
	reading := func(pid int, at, done int, lo, hi time.Time, now time.Time) Event {
		return Event{T: "clock", Node: "n", PID: pid, At: ms(at), Done: ms(done), Earliest: lo, Latest: hi, Now: now, Token: 7}
	}
	ref := Event{T: "clock", Node: "r", PID: 1, At: ms(0), Done: ms(1), Earliest: ms(40), Latest: ms(40), Now: ms(40), Token: 7, Ref: true, Offset: off}
	good := reading(2, 10, 11, ms(48), ms(53), ms(50))   // truth 50-51
	wrongs := reading(3, 20, 21, ms(70), ms(75), ms(72)) // truth 60-61: missed (C1), and far from pid 2 (C3)
	back := reading(2, 30, 31, ms(65), ms(75), ms(49))   // Now 49 after 50 (C2)
	unsynced := Event{T: "clock", PID: 4, At: ms(5), Err: "unsynced"}
	noRef := reading(5, 500, 501, ms(0), ms(1), ms(0))
	noRef.Token = 8
	v := Clocks([]Event{ref, good, wrongs, back, unsynced, noRef, {T: "grant"}})
	if v.Readings != 6 || v.Unsynced != 1 || v.NoRef != 1 || v.Judged != 4 {
		t.Errorf("counts %+v", v)
	}
	if len(v.C1) != 1 || len(v.C2) != 1 || len(v.C3) == 0 {
		t.Fatalf("C1 %v, C2 %v, C3 %v; want one C1 miss (pid 3), one C2 (pid 2), a C3 miss", v.C1, v.C2, v.C3)
	}
	if v := Clocks([]Event{ref, good}); len(v.C1)+len(v.C2)+len(v.C3) > 0 {
		t.Errorf("good readings judged bad: %+v", v)
	}
}
