package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags: the publisher publishes, the consumers take and ack, one is
// killed holding an order, and the other takes that order again; every
// order is acked and the launcher exits 0.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	for _, want := range []string{"launcher: killing ", " again after ", "launcher: every order acked"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	// The order taken again is its second delivery.
	if !strings.Contains(out, "delivery 2)") {
		t.Errorf("no order was delivered twice:\n%s", out)
	}
}
