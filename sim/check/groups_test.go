package check

import (
	"strings"
	"testing"
	"time"
)

// groupHistory is a clean history of group g on topic t: offset 1 acked
// at once; offset 2 left by m1 and acked by m2 after AckWait; offset 3
// nacked by m2, left by m1, left by m2 again (MaxDeliveries, 3, reached).
func groupHistory(t0 time.Time) GroupHistory {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return GroupHistory{
		Publications: []Publication{pub("a", 1), pub("b", 2), pub("c", 3), {Payload: "lost?", Topic: "t"}},
		Quiet:        at(5000),
		End:          at(20000),
		Groups: []GroupRecord{{
			Topic: "t", Group: "g", From: 1, AckWait: time.Second, MaxDeliveries: 3,
			Members: []GroupMember{{Name: "m1"}, {Name: "m2"}},
			Deliveries: []GroupDelivery{
				{Member: "m1", Offset: 1, Payload: "a", Deliveries: 1, At: at(100), Settle: Acked, SettleOK: true, Settled: at(200)},
				{Member: "m1", Offset: 2, Payload: "b", Deliveries: 1, At: at(300)},
				{Member: "m2", Offset: 3, Payload: "c", Deliveries: 1, At: at(500), Settle: Nacked, SettleOK: true, Settled: at(600)},
				{Member: "m1", Offset: 3, Payload: "c", Deliveries: 2, At: at(610)},
				{Member: "m2", Offset: 2, Payload: "b", Deliveries: 2, At: at(1350), Settle: Acked, SettleOK: true, Settled: at(1400)},
				{Member: "m2", Offset: 3, Payload: "c", Deliveries: 3, At: at(1700)},
			},
		}},
	}
}

// The group checker finds each kind of violation of S3, and nothing in
// a clean history.
func TestCheckGroup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		change func(h *GroupHistory)
		want   string // "Overlap: ...", "Count: ...": a part of the first violation; "" for none
	}{
		{"clean", func(*GroupHistory) {}, ""},
		{"a late ack, redelivered", func(h *GroupHistory) {
			d := &h.Groups[0].Deliveries[1]
			d.Settle, d.SettleOK, d.Settled = Acked, true, at(1500)
		}, ""},
		{"no quiet period", func(h *GroupHistory) {
			h.Quiet = time.Time{}
			h.Groups[0].Deliveries = h.Groups[0].Deliveries[:4]
		}, ""},
		{"a gap after a Next of unknown outcome", func(h *GroupHistory) {
			d := &h.Groups[0].Deliveries[4]
			d.Deliveries, d.At, d.Settled = 3, at(2400), at(2450)
			h.Groups[0].Members[0].Unknown = []time.Time{at(1400)}
		}, ""},
		{"a gap before a Next of unknown outcome could take it", func(h *GroupHistory) {
			h.Groups[0].Deliveries[4].Deliveries = 3
			h.Groups[0].Members[0].Unknown = []time.Time{at(900)}
		}, "Count: t/g: offset 2 delivery 3 to m2 after delivery 1, and 0 Nexts of unknown outcome"},
		{"a gap too soon after a Next of unknown outcome", func(h *GroupHistory) {
			h.Groups[0].Deliveries[4].Deliveries = 3
			h.Groups[0].Members[0].Unknown = []time.Time{at(1320)}
		}, "Count: t/g: offset 2 delivery 3 to m2 after delivery 1, and 0 Nexts of unknown outcome"},
		{"a gap taken by a Next of unknown outcome that ended before the offset was free", func(h *GroupHistory) {
			h.Groups[0].Deliveries[5].At = at(2700) // offset 3, free at 1610: a hidden hand-out applied then, over at 2610
			h.Groups[0].Deliveries[5].Deliveries = 4
			h.Groups[0].MaxDeliveries = 4                          // and delivery 4 is the last
			h.Groups[0].Members[0].Unknown = []time.Time{at(1000)} // its fetch may have been applied up to lateApply later
		}, ""},
		{"a gap taken by a Next asked before the offset was free, cut off at the end", func(h *GroupHistory) {
			h.Groups[0].Deliveries[5].At = at(2700)
			h.Groups[0].Deliveries[5].Deliveries = 4
			h.Groups[0].MaxDeliveries = 4
			h.Groups[0].Members[0].Unknown = []time.Time{at(20000)}
			h.Groups[0].Members[0].Asked = []time.Time{at(1000)}
		}, ""},
		{"a gap of two taken by one Next that skipped two", func(h *GroupHistory) {
			h.Groups[0].Deliveries[5].At = at(4000) // offset 3, free at 1610: hidden hand-outs over at 2610 and 3610
			h.Groups[0].Deliveries[5].Deliveries = 5
			h.Groups[0].MaxDeliveries = 5
			m := &h.Groups[0].Members[0]
			m.Unknown, m.Asked, m.Skips = []time.Time{at(3500)}, []time.Time{at(1500)}, []int{2}
		}, ""},
		{"a gap of two and one Next that skipped one", func(h *GroupHistory) {
			h.Groups[0].Deliveries[5].At = at(4000)
			h.Groups[0].Deliveries[5].Deliveries = 5
			h.Groups[0].MaxDeliveries = 5
			m := &h.Groups[0].Members[0]
			m.Unknown, m.Asked, m.Skips = []time.Time{at(3500)}, []time.Time{at(1500)}, []int{1}
		}, "Count: t/g: offset 3 delivery 5 to m2 after delivery 2, and 1 Nexts of unknown outcome"},
		{"exhausted by what a Next cut off at the end skipped", func(h *GroupHistory) {
			h.Groups[0].Deliveries = h.Groups[0].Deliveries[:5] // offset 3 last handed to m1, delivery 2, at 610
			m := &h.Groups[0].Members[1]
			m.Unknown, m.Asked, m.Skips = []time.Time{at(20000)}, []time.Time{at(1000)}, []int{1}
		}, ""},
		{"a gap no Next asked in time could take", func(h *GroupHistory) {
			h.Groups[0].Deliveries[5].At = at(2700)
			h.Groups[0].Deliveries[5].Deliveries = 4
			h.Groups[0].MaxDeliveries = 4
			h.Groups[0].Members[0].Unknown = []time.Time{at(20000)}
			h.Groups[0].Members[0].Asked = []time.Time{at(2000)} // free at 1610, but asked at 2000: over at 3000 at the soonest
		}, "Count: t/g: offset 3 delivery 4 to m2 after delivery 2, and 0 Nexts of unknown outcome"},
		{"exhausted by a Next of unknown outcome", func(h *GroupHistory) {
			h.Groups[0].Deliveries = h.Groups[0].Deliveries[:5] // offset 3 last handed to m1, delivery 2, at 610
			h.Groups[0].Members[1].Unknown = []time.Time{at(1700)}
		}, ""},
		{"not exhausted by Nexts of unknown outcome over long before it was due or cut off at the end", func(h *GroupHistory) {
			h.Groups[0].Deliveries = h.Groups[0].Deliveries[:5]
			h.Groups[0].Members[1].Unknown = []time.Time{at(-600), at(20000)} // due at 1610; a fetch applies at most lateApply after its Next
		}, "Lost: t/g: offset 3 (\"c\", published by n1): last delivery 2 to m1"},
		{"two holders", func(h *GroupHistory) {
			h.Groups[0].Deliveries[4].At, h.Groups[0].Deliveries[4].Settled = at(800), at(850)
		}, "Overlap: t/g: offset 2 handed to m2 (delivery 2) 500ms before m1's hold (delivery 1) ended"},
		{"handed out after a hold Next gave short", func(h *GroupHistory) {
			// m1's fetch was sent again after its first answer was lost:
			// 300ms of its hold were left.
			h.Groups[0].Deliveries[1].HeldUntil = at(600)
			h.Groups[0].Deliveries[4].At, h.Groups[0].Deliveries[4].Settled = at(800), at(850)
		}, ""},
		{"two holders, one with a short hold", func(h *GroupHistory) {
			h.Groups[0].Deliveries[1].HeldUntil = at(900)
			h.Groups[0].Deliveries[4].At, h.Groups[0].Deliveries[4].Settled = at(700), at(850)
		}, "Overlap: t/g: offset 2 handed to m2 (delivery 2) 200ms before m1's hold (delivery 1) ended"},
		{"handed out again while the nack's answer was on its way", func(h *GroupHistory) {
			d := &h.Groups[0].Deliveries[2] // nacked by m2; handed to m1 at 610
			d.SettleCalled, d.Settled = at(550), at(1400)
		}, ""},
		{"handed out before the nack was called", func(h *GroupHistory) {
			d := &h.Groups[0].Deliveries[2]
			d.SettleCalled, d.Settled = at(900), at(1400)
		}, "Overlap: t/g: offset 3 handed to m1 (delivery 2)"},
		{"handed out after a nack failed", func(h *GroupHistory) {
			h.Groups[0].Deliveries[2].SettleOK = false
		}, "Overlap: t/g: offset 3 handed to m1 (delivery 2) 890ms before m2's hold"},
		{"a count repeated", func(h *GroupHistory) {
			h.Groups[0].Deliveries[4].Deliveries = 1
		}, "Count: t/g: offset 2 delivery 1 to m2 after delivery 1"},
		{"a count skipped", func(h *GroupHistory) {
			h.Groups[0].Deliveries[4].Deliveries = 3
		}, "Count: t/g: offset 2 delivery 3 to m2 after delivery 1, and 0 Nexts of unknown outcome"},
		{"above MaxDeliveries", func(h *GroupHistory) {
			h.Groups[0].Deliveries = append(h.Groups[0].Deliveries, GroupDelivery{Member: "m1", Offset: 3, Payload: "c", Deliveries: 4, At: at(2800)})
		}, "Count: t/g: offset 3 delivery 4 to m1, above MaxDeliveries 3"},
		{"never delivered", func(h *GroupHistory) {
			h.Publications = append(h.Publications, pub("d", 4))
		}, "Lost: t/g: offset 4 (\"d\", published by n1): never delivered"},
		{"never seen: every hand-out hidden, up to MaxDeliveries", func(h *GroupHistory) {
			h.Publications = append(h.Publications, pub("d", 4))
			m := &h.Groups[0].Members[0] // one Next that skipped three, asked at 6000, cut off at the end
			m.Unknown, m.Asked, m.Skips = []time.Time{at(20000)}, []time.Time{at(6000)}, []int{3}
		}, ""},
		{"never seen, fewer hidden hand-outs than MaxDeliveries", func(h *GroupHistory) {
			h.Publications = append(h.Publications, pub("d", 4))
			m := &h.Groups[0].Members[0]
			m.Unknown, m.Asked, m.Skips = []time.Time{at(20000)}, []time.Time{at(6000)}, []int{2}
		}, "Lost: t/g: offset 4 (\"d\", published by n1): never delivered"},
		{"not handed out again", func(h *GroupHistory) {
			h.Groups[0].Deliveries = h.Groups[0].Deliveries[:5]
		}, "Lost: t/g: offset 3 (\"c\", published by n1): last delivery 2 to m1"},
		{"another payload", func(h *GroupHistory) {
			h.Groups[0].Deliveries[0].Payload = "z"
		}, "Lost: t/g: m1 got \"z\" at offset 1, where n1 published \"a\""},
		{"handed out after an ack", func(h *GroupHistory) {
			h.Groups[0].Deliveries = append(h.Groups[0].Deliveries, GroupDelivery{Member: "m2", Offset: 1, Payload: "a", Deliveries: 2, At: at(3000), Settle: Acked, SettleOK: true, Settled: at(3100)})
		}, "AfterAck: t/g: offset 1 handed to m2 (delivery 2) after m1 acked it in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := groupHistory(t0)
			tt.change(&h)
			v := CheckGroup(h, 100*time.Millisecond)
			var got []string
			for _, c := range []struct {
				name string
				v    Violations
			}{{"Overlap", v.Overlap}, {"Count", v.Count}, {"Lost", v.Lost}, {"AfterAck", v.AfterAck}} {
				for _, s := range c.v.First {
					got = append(got, c.name+": "+s)
				}
			}
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("violations %q, want none", got)
			case tt.want != "" && (len(got) == 0 || !strings.Contains(got[0], tt.want)):
				t.Errorf("violations %q, want first %q", got, tt.want)
			}
		})
	}
	v := CheckGroup(groupHistory(t0), 100*time.Millisecond)
	if v.Delivered != 6 || v.Redelivered != 3 || v.Acked != 2 || v.Nacked != 1 || v.Ignored != 3 || v.Exhausted != 1 || v.Hidden != 0 {
		t.Errorf("figures %+v, want 6 delivered, 3 redelivered, 2 acked, 1 nacked, 3 ignored, 1 exhausted, 0 hidden", v)
	}
}
