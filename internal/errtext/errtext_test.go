package errtext

import (
	"context"
	"errors"
	"testing"
)

func TestErrorf(t *testing.T) {
	errTimeout := errors.New("lockmgr: wait timed out")
	err := Errorf("lockmgr: ", "lockmgr: acquire %q: %w", "x", errTimeout)
	if got, want := err.Error(), `lockmgr: acquire "x": wait timed out`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, errTimeout) {
		t.Error("errors.Is does not find the wrapped error")
	}
	two := Errorf("taskpool: ", "taskpool: %s: %w (last attempt: %w)", "work", context.DeadlineExceeded, errors.New("taskpool: busy"))
	if got, want := two.Error(), "taskpool: work: context deadline exceeded (last attempt: busy)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(two, context.DeadlineExceeded) {
		t.Error("errors.Is does not find the first of two wrapped errors")
	}
	other := Errorf("taskpool: ", "taskpool: %s: %w", "work", errors.New("cluster: closed"))
	if got, want := other.Error(), "taskpool: work: cluster: closed"; got != want {
		t.Errorf("another package's prefix: %q, want %q", got, want)
	}
}
