package voters

import (
	"testing"
	"time"
)

// A node answers the first founder no and refuses any other for the
// failure threshold (and founds nothing itself meanwhile); the same
// founder asking again hears no again. A node that sees a group, or
// polls for its own founding, refuses everyone; one that saw a group
// led refuses everyone for good.
func TestFoundingAnswers(t *testing.T) {
	var m memory
	t0 := time.Unix(1000, 0)
	const failAfter = 2 * time.Second
	ok := func(r foundingResp) bool { return r.Group == 0 && !r.Seen && !r.Promised }
	if r := m.answer("a", 0, false, false, 3, failAfter, t0); !ok(r) || r.Need != 3 {
		t.Fatalf("first founder: %+v; want no, need 3", r)
	}
	if r := m.answer("b", 0, false, false, 3, failAfter, t0.Add(time.Second)); !r.Promised {
		t.Errorf("second founder within the threshold: %+v; want refused (promised)", r)
	}
	if !m.promisedOther("self", t0.Add(time.Second)) {
		t.Error("the node would found itself while it answered a no to a")
	}
	if r := m.answer("a", 0, false, false, 3, failAfter, t0.Add(time.Second)); !ok(r) {
		t.Errorf("the same founder again: %+v; want no", r)
	}
	if r := m.answer("b", 0, false, false, 3, failAfter, t0.Add(4*time.Second)); !ok(r) {
		t.Errorf("second founder after the threshold: %+v; want no", r)
	}
	if r := m.answer("c", 0, false, true, 3, failAfter, t0.Add(10*time.Second)); !r.Promised {
		t.Errorf("a node founding itself: %+v; want refused", r)
	}
	if r := m.answer("c", 7, false, false, 3, failAfter, t0.Add(20*time.Second)); r.Group != 7 || r.Seen {
		t.Errorf("a node that sees group 7 with no leader: %+v; want group 7 (a refusal), not seen", r)
	}
	if r := m.answer("d", 0, false, false, 3, failAfter, t0.Add(30*time.Second)); !ok(r) {
		t.Errorf("the leaderless group gone: %+v; want no (it never saw a leader)", r)
	}
	if r := m.answer("c", 7, true, false, 3, failAfter, t0.Add(40*time.Second)); r.Group != 7 || !r.Seen {
		t.Errorf("a node that sees group 7 led: %+v; want group 7, seen", r)
	}
	if r := m.answer("d", 0, false, false, 3, failAfter, t0.Add(50*time.Second)); !r.Seen {
		t.Errorf("after seeing a group led: %+v; want seen, for good", r)
	}
}
