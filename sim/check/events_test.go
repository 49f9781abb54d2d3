package check

import (
	"strings"
	"testing"
)

func pub(payload string, off uint64) Publication {
	return Publication{Node: "n1", Topic: "t", Payload: payload, Offset: off, OK: true}
}

func subOf(name string, from uint64, offs ...uint64) SubscriptionRecord {
	s := SubscriptionRecord{Name: name, Topic: "t", From: from}
	for _, o := range offs {
		s.Deliveries = append(s.Deliveries, Delivery{Offset: o, Payload: string(rune('a' + o - 1))})
	}
	return s
}

// The event checker finds each kind of violation, and nothing in a
// clean history or across a reported truncation.
func TestCheckEvents(t *testing.T) {
	pubs := []Publication{pub("a", 1), pub("b", 2), pub("c", 3), pub("d", 4), {Payload: "lost?", Topic: "t"}}
	tests := []struct {
		name       string
		subs       []SubscriptionRecord
		s1, s2, s4 string // a part of the first violation; "" for none
	}{
		{"clean", []SubscriptionRecord{subOf("x", 1, 1, 2, 3, 4), subOf("y", 2, 2, 3)}, "", "", ""},
		{"a gap", []SubscriptionRecord{subOf("x", 1, 1, 2, 4)}, "offset 4 after 2, want 3", "never read \"c\"", ""},
		{"a duplicate", []SubscriptionRecord{subOf("x", 1, 1, 2, 2, 3)}, "offset 2 after 2, want 3", "", ""},
		{"a late start", []SubscriptionRecord{subOf("x", 1, 2, 3)}, "", "never read \"a\"", "from offset 1, started at 2, want 1"},
		{"an early start", []SubscriptionRecord{subOf("x", 3, 2, 3, 4)}, "", "", "from offset 3, started at 2, want 3"},
		{"two payloads", []SubscriptionRecord{subOf("x", 1, 1, 2), {Name: "y", Topic: "t", From: 1, Deliveries: []Delivery{{Offset: 1, Payload: "z"}, {Offset: 2, Payload: "b"}}}}, "another subscription read", "read \"z\" at offset 1", ""},
		{"a reported truncation", []SubscriptionRecord{{Name: "x", Topic: "t", From: 1, Deliveries: []Delivery{{Offset: 1, Payload: "a"}, {Offset: 4, Payload: "d"}}, Truncated: []Truncation{{Before: 1, Lost: 3}}}}, "", "", ""},
		{"a silent skip after a truncation", []SubscriptionRecord{{Name: "x", Topic: "t", From: 1, Deliveries: []Delivery{{Offset: 1, Payload: "a"}, {Offset: 4, Payload: "d"}}, Truncated: []Truncation{{Before: 1, Lost: 2}}}}, "offset 4 after 1, want 3", "never read \"c\"", ""},
		{"a truncated start", []SubscriptionRecord{{Name: "x", Topic: "t", From: 2, Deliveries: []Delivery{{Offset: 4, Payload: "d"}}, Truncated: []Truncation{{Before: 0, Lost: 3}}}}, "", "", ""},
		{"a silent skip at the start", []SubscriptionRecord{{Name: "x", Topic: "t", From: 2, Deliveries: []Delivery{{Offset: 4, Payload: "d"}}, Truncated: []Truncation{{Before: 0, Lost: 2}}}}, "", "never read \"c\"", "from offset 2, started at 4, want 3"},
		{"a truncation before the start", []SubscriptionRecord{{Name: "x", Topic: "t", From: 3, Deliveries: []Delivery{{Offset: 3, Payload: "c"}}, Truncated: []Truncation{{Before: 0, Lost: 2}}}}, "", "", "from offset 3, reported offsets up to 2 lost"},
		{"appended twice", []SubscriptionRecord{{Name: "x", Topic: "t", From: 1, Deliveries: []Delivery{{Offset: 1, Payload: "a"}, {Offset: 2, Payload: "b"}, {Offset: 3, Payload: "c"}, {Offset: 4, Payload: "d"}, {Offset: 5, Payload: "b"}}}}, "\"b\" at offset 5, and at offset 2 too", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CheckEvents(EventHistory{Publications: pubs, Subscriptions: tt.subs})
			for _, c := range []struct {
				name string
				got  Violations
				want string
			}{{"S1", v.S1, tt.s1}, {"S2", v.S2, tt.s2}, {"S4", v.S4, tt.s4}} {
				switch {
				case c.want == "" && c.got.N > 0:
					t.Errorf("%s: %q, want none", c.name, c.got.First)
				case c.want != "" && (c.got.N == 0 || !strings.Contains(c.got.First[0], c.want)):
					t.Errorf("%s: %q, want %q", c.name, c.got.First, c.want)
				}
			}
			if v.Published != 4 || v.Failed != 1 {
				t.Errorf("published %d, failed %d; want 4, 1", v.Published, v.Failed)
			}
		})
	}
}
