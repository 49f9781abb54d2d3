package raftgroup

import (
	"context"
	"errors"
	"testing"
	"time"
)

// ProposeAppended returns on the leader once the entry is in its log,
// keeps it before the leader's later proposals, and gets it applied
// everywhere; a follower refuses it with the leader's ID.
func TestProposeAppended(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.groups[lead].ProposeAppended(ctx, []byte("first")); err != nil {
			t.Fatalf("ProposeAppended on the leader: %v", err)
		}
		propose(t, c.groups[lead], "second")
		log := c.waitConverged(2 * time.Second)
		var got []string
		for _, a := range log {
			got = append(got, a.Data)
		}
		if len(got) != 2 || got[0] != "first" || got[1] != "second" {
			t.Fatalf("applied %q, want [first second]", got)
		}
		for _, id := range c.ids() {
			if id == lead {
				continue
			}
			var nl *NotLeaderError
			if err := c.groups[id].ProposeAppended(ctx, []byte("on a follower")); !errors.As(err, &nl) || nl.Leader != lead {
				t.Errorf("ProposeAppended on follower %d = %v, want NotLeaderError naming %d", id, err, lead)
			}
		}
	})
}

// An entry the leader appended but could not replicate is not applied
// by the others, and its loss shows nowhere: the caller was told only
// that it was appended.
func TestProposeAppendedCutOffLeader(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 3, nil)
		defer c.close()
		lead := c.waitLeader(c.ids(), 2*time.Second)
		c.net.isolate(lead)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := c.groups[lead].ProposeAppended(ctx, []byte("lost")); err != nil {
			t.Fatalf("ProposeAppended on the cut-off leader: %v", err)
		}
		time.Sleep(10 * electionTimeout)
		for _, id := range c.ids() {
			if id != lead && len(c.sms[id].log()) != 0 {
				t.Errorf("member %d applied %v from a leader cut off", id, c.sms[id].log())
			}
		}
		c.net.heal()
		c.waitConverged(5 * time.Second)
		c.checkPrefixes()
	})
}
