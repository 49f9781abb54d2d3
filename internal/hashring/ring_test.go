package hashring

import (
	"fmt"
	"slices"
	"testing"
)

func TestOwners(t *testing.T) {
	r := New([]string{"a", "b", "c", "a"}, 16)
	if r.Len() != 3 {
		t.Fatalf("Len = %d, want 3 (duplicates placed once)", r.Len())
	}
	for _, key := range []string{"x", "y", "lock-1", ""} {
		got := r.Owners(key, 5)
		if len(got) != 3 {
			t.Fatalf("Owners(%q, 5) = %v, want all 3 members", key, got)
		}
		s := slices.Clone(got)
		slices.Sort(s)
		if !slices.Equal(s, []string{"a", "b", "c"}) {
			t.Fatalf("Owners(%q) = %v, not distinct members", key, got)
		}
		if again := r.Owners(key, 2); !slices.Equal(again, got[:2]) {
			t.Fatalf("Owners(%q, 2) = %v, want the prefix %v", key, again, got[:2])
		}
	}
	if got := New(nil, 4).Owners("x", 1); got != nil {
		t.Fatalf("empty ring Owners = %v, want nil", got)
	}
}

// Adding a member moves only about 1/N of the keys' owners, and spreads
// ownership roughly evenly.
func TestBalanceAndStability(t *testing.T) {
	members := []string{"n1", "n2", "n3", "n4"}
	before := New(members, 64)
	after := New(append(members, "n5"), 64)
	counts := map[string]int{}
	moved := 0
	const keys = 10000
	for i := range keys {
		k := fmt.Sprint("key-", i)
		a, b := before.Owners(k, 1)[0], after.Owners(k, 1)[0]
		counts[b]++
		if a != b {
			moved++
			if b != "n5" {
				t.Fatalf("key %s moved from %s to %s, not to the new member", k, a, b)
			}
		}
	}
	if moved < keys/10 || moved > keys*3/10 {
		t.Errorf("%d of %d keys moved, want about a fifth", moved, keys)
	}
	for m, c := range counts {
		if c < keys/10 || c > keys*3/10 {
			t.Errorf("%s owns %d of %d keys, want about a fifth", m, c, keys)
		}
	}
}

func TestCache(t *testing.T) {
	c := NewCache(16)
	a := c.Ring([]string{"a", "b", "c"})
	if c.Ring([]string{"a", "b", "c"}) != a {
		t.Error("the same members built a new ring")
	}
	b := c.Ring([]string{"a", "b"})
	if b == a || b.Len() != 2 {
		t.Errorf("other members: the same ring, or %d members", b.Len())
	}
	for i := range 100 {
		key := fmt.Sprintf("k%d", i)
		if got, want := b.Owners(key, 2), New([]string{"a", "b"}, 16).Owners(key, 2); !slices.Equal(got, want) {
			t.Fatalf("Owners(%q) = %v from the cache, %v from New", key, got, want)
		}
	}
}
