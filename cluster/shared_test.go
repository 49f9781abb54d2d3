package cluster

import (
	"testing"
	"testing/synctest"
)

// A value's destroy runs to its end before a later Shared of the same key
// makes a new one: a service's clean-up never overlaps its successor's
// start (the old voter service clearing its tags after the new one set
// its own).
func TestSharedDestroyBeforeCreate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &Node{}
		var events []string
		destroying := make(chan struct{})
		finish := make(chan struct{})
		create := func(name string) func() any {
			return func() any { events = append(events, "create "+name); return name }
		}
		destroy := func(v any) {
			close(destroying)
			<-finish
			events = append(events, "destroyed "+v.(string))
		}
		_, release := n.Shared("k", create("a"), destroy)
		go release()
		<-destroying
		got := make(chan any)
		go func() {
			v, release := n.Shared("k", create("b"), func(any) {})
			defer release()
			got <- v
		}()
		synctest.Wait() // the second Shared is waiting
		select {
		case v := <-got:
			t.Fatalf("Shared returned %v while the last value was being destroyed", v)
		default:
		}
		close(finish)
		if v := <-got; v != "b" {
			t.Fatalf("Shared after destroy = %v, want a new value", v)
		}
		if want := []string{"create a", "destroyed a", "create b"}; len(events) != 3 || events[0] != want[0] || events[1] != want[1] || events[2] != want[2] {
			t.Fatalf("events %v, want %v", events, want)
		}
	})
}
