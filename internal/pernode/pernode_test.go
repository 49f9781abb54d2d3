package pernode

import "testing"

func TestRegistry(t *testing.T) {
	var r Registry[string, *int]
	made, destroyed := 0, 0
	create := func() *int { made++; v := made; return &v }
	destroy := func(*int) { destroyed++ }

	a := r.Acquire("n1", create)
	if b := r.Acquire("n1", create); b != a || made != 1 {
		t.Fatalf("second Acquire: %p, made %d; want the first value, made once", b, made)
	}
	if c := r.Acquire("n2", create); c == a || made != 2 {
		t.Fatalf("another key shares the value or made %d", made)
	}
	r.Release("n1", destroy)
	if destroyed != 0 {
		t.Fatal("destroyed while a reference remains")
	}
	r.Release("n1", destroy)
	if destroyed != 1 {
		t.Fatalf("destroyed %d times after the last release, want 1", destroyed)
	}
	r.Release("n1", destroy) // nothing left: no-op
	if destroyed != 1 {
		t.Fatalf("a release of an empty key destroyed again")
	}
	if d := r.Acquire("n1", create); d == a || *d != 3 {
		t.Errorf("Acquire after the last release returned the old value")
	}
}
