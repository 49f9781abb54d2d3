package cluster

import "testing"

func TestExclusive(t *testing.T) {
	n := newTestNode(t, "a", nil)
	type key struct{}
	release, ok := n.Exclusive(key{})
	if !ok {
		t.Fatal("first Exclusive refused")
	}
	if _, ok := n.Exclusive(key{}); ok {
		t.Fatal("second Exclusive granted while the first holds the slot")
	}
	type other struct{}
	if r, ok := n.Exclusive(other{}); !ok {
		t.Error("another key refused")
	} else {
		r()
	}
	release()
	release() // a second call does nothing
	r2, ok := n.Exclusive(key{})
	if !ok {
		t.Fatal("Exclusive refused after the release")
	}
	r2()
}
