package election

import (
	"testing"
	"time"
)

// TestVoterHistory drives one voter through tables of claims, renewals
// and releases, checking each answer.
func TestVoterHistory(t *testing.T) {
	a := candidate{ID: "a", Node: "n1"}
	b := candidate{ID: "b", Node: "n2"} // ranks above a
	const ttl = time.Second             // hold: 1.25 s
	type step struct {
		at    time.Duration // since the voter started
		op    string        // claim, renew, release
		cand  candidate
		term  uint64
		want  bool // granted / renewed
		extra string
	}
	tests := []struct {
		name  string
		quiet time.Duration
		steps []step
	}{
		{"grant once per term", 0, []step{
			{0, "claim", a, 1, true, ""},
			{0, "claim", a, 1, false, "a term is granted once, even to its holder"},
			{0, "claim", a, 2, true, "the holder may claim a higher term"},
			{10 * time.Millisecond, "claim", b, 3, false, "a holds a live grant"},
		}},
		{"grant expires after hold", 0, []step{
			{0, "claim", a, 1, true, ""},
			{1200 * time.Millisecond, "claim", b, 2, false, "still held at 1.2s"},
			{1300 * time.Millisecond, "claim", b, 2, true, "free after 1.25s"},
			{1300 * time.Millisecond, "renew", a, 1, false, "a's term is below the promise"},
		}},
		{"no term twice", 0, []step{
			{0, "claim", a, 3, true, ""},
			{0, "release", a, 3, false, ""},
			{0, "claim", b, 3, false, "term 3 already granted"},
			{0, "claim", b, 2, false, "below the promise"},
			{0, "claim", b, 4, true, ""},
		}},
		{"renew extends and joins", 0, []step{
			{0, "claim", a, 1, true, ""},
			{1000 * time.Millisecond, "renew", a, 1, true, ""},
			{2000 * time.Millisecond, "claim", b, 2, false, "renewed at 1s: held until 2.25s"},
			{3000 * time.Millisecond, "renew", b, 5, true, "no live grant: joins b's lease"},
			{3000 * time.Millisecond, "renew", a, 1, false, "superseded"},
		}},
		{"preempt by a higher candidate", 0, []step{
			{0, "claim", a, 1, true, ""},
			{0, "claim", b, 2, false, "held by a"},
			{100 * time.Millisecond, "renew", a, 1, true, "preempt"},
		}},
		{"a preemption ends with the lease it was made against", 0, []step{
			{0, "claim", a, 1, true, ""},
			{0, "claim", b, 2, false, "held by a"},
			{100 * time.Millisecond, "renew", a, 1, true, "preempt"},
			{400 * time.Millisecond, "release", a, 1, false, ""},
			{400 * time.Millisecond, "claim", a, 2, true, "a new lease"},
			{500 * time.Millisecond, "renew", a, 2, true, "b has not asked again"},
		}},
		{"a NoPreempt claim asks nothing", 0, []step{
			{0, "claim", a, 1, true, ""},
			{0, "claim-nopreempt", b, 2, false, "held by a"},
			{100 * time.Millisecond, "renew", a, 1, true, ""},
		}},
		{"quiet after start", 2 * time.Second, []step{
			{0, "claim", a, 1, false, "quiet"},
			{0, "renew", a, 1, false, "quiet: no joining either"},
			{2100 * time.Millisecond, "claim", a, 1, true, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			v := &voter{groups: map[string]*groupState{}, quietUntil: t0.Add(tt.quiet)}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				req := claimReq{Group: "g", Term: s.term, Cand: s.cand, TTL: ttl}
				var got, preempt bool
				switch s.op {
				case "claim":
					got = v.claim(req, now).Granted
				case "claim-nopreempt":
					req.NoPreempt = true
					got = v.claim(req, now).Granted
				case "renew":
					r := v.renew(req, now)
					got, preempt = r.OK, r.Preempt
				case "release":
					v.release(releaseReq{Group: "g", Term: s.term, Cand: s.cand})
					continue
				}
				if got != s.want {
					t.Fatalf("step %d (%s %s term %d at %v, %s): got %v, want %v", i, s.op, s.cand.ID, s.term, s.at, s.extra, got, s.want)
				}
				if wantPreempt := s.extra == "preempt"; preempt != wantPreempt {
					t.Fatalf("step %d: preempt = %v, want %v", i, preempt, wantPreempt)
				}
			}
		})
	}
}

func TestCompareRank(t *testing.T) {
	tests := []struct {
		a, b candidate
		want int
	}{
		{candidate{Priority: 1, Node: "a"}, candidate{Priority: 0, Node: "z"}, 1},
		{candidate{Node: "n2"}, candidate{Node: "n10"}, 1}, // plain string order
		{candidate{Node: "n1", ID: "b"}, candidate{Node: "n1", ID: "a"}, 1},
		{candidate{Node: "n1", ID: "a"}, candidate{Node: "n1", ID: "a"}, 0},
	}
	for _, tt := range tests {
		if got := compareRank(tt.a, tt.b); got != tt.want {
			t.Errorf("compareRank(%+v, %+v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
