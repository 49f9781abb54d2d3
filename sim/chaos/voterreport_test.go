package chaos

import (
	"testing"
	"time"
)

func TestLeaderlessAfter(t *testing.T) {
	s := time.Second
	v := voterRecord{Changes: []voterChange{
		{At: -2 * s, Config: voterConfig{Leader: "n1"}},
		{At: 1 * s, Config: voterConfig{}},
		{At: 5 * s, Config: voterConfig{Leader: "n2"}},
		{At: 8 * s, Config: voterConfig{}},
	}}
	for _, tc := range []struct{ at, want time.Duration }{
		{0, 0},         // a leader then
		{2 * s, 3 * s}, // none from 1 s to 5 s
		{5 * s, 0},
		{9 * s, 0}, // none after 8 s, and none named later: no excuse
	} {
		if got := v.leaderlessAfter(tc.at); got != tc.want {
			t.Errorf("leaderlessAfter(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}
