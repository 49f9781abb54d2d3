package chaos

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gossipsync/gossipsync/sim/check"
	"github.com/gossipsync/gossipsync/sim/simnet"
)

// The network's traffic is divided by the lock operations, grants and
// their ends, in the text and the JSON report.
func TestOpCost(t *testing.T) {
	net := simnet.NetStats{PacketsSent: 600, PacketBytes: 60_000, StreamWrites: 400, StreamBytes: 140_000}
	locks := lockRecord{Verdict: check.LockVerdict{Grants: 6}, Ended: 4}
	c := newOpCost(net, locks)
	if c.Ops != 10 || c.Messages != 1000 || c.Bytes != 200_000 {
		t.Fatalf("newOpCost = %+v, want 10 ops, 1000 messages, 200000 bytes", c)
	}
	if got, want := c.summary().line(), "100 messages, 20.0 kB per lock operation (all traffic, every workload and gossip: 1000 messages, 200.0 kB over 10 grants and ends)"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	data, _ := json.Marshal(c.summary())
	if want := `{"lock_ops":10,"messages":1000,"bytes":200000,"messages_per_lock_op":100,"bytes_per_lock_op":20000}`; string(data) != want {
		t.Errorf("JSON = %s, want %s", data, want)
	}
	if got := newOpCost(net, lockRecord{}).summary().line(); !strings.HasPrefix(got, "no lock operations") {
		t.Errorf("line without operations = %q", got)
	}
}
