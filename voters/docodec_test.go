package voters

import (
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/leases"
	"github.com/gossipsync/gossipsync/internal/wire/wiretest"
)

func doReqs() []doReq {
	h := leases.Holder{Node: "n1", Owner: "m", Handle: 3}
	return []doReq{
		{},
		{Group: 1 << 50, Cmds: []leases.Cmd{{Op: leases.OpRenew, Key: "l/a", Holder: h, Token: 9, TTL: time.Second}}},
		{Group: 7, Cmds: []leases.Cmd{{Op: leases.OpClaim, Key: "e/g", Holder: leases.Holder{Node: "n2", Priority: -2}, Preempt: true,
			Free: &leases.Cmd{Op: leases.OpRelease, Key: "e/g", Holder: h}}, {Op: leases.OpEndQuiet}}},
		{Group: 3, Appended: true, Cmds: []leases.Cmd{{Op: leases.OpRelease, Key: "l/a", Holder: h, Token: 9}}},
	}
}

func doResps() []doResp {
	return []doResp{
		{},
		{NotLeader: true, Leader: "n3", Group: 12},
		{NotLeader: true, Group: 12},
		{Results: []leases.Result{{OK: true, Token: 1 << 45, Last: 1 << 45}, {Holder: &leases.Holder{Node: "x"}, Remaining: time.Millisecond}}},
	}
}

func TestDoCodec(t *testing.T) {
	wiretest.RoundTrip(t, doReqs())
	wiretest.RoundTrip(t, doResps())
}

func FuzzDoReqAgreesWithMsgpack(f *testing.F) {
	wiretest.Seeds(f, doReqs())
	f.Fuzz(func(t *testing.T, b []byte) { wiretest.Agrees[doReq](t, b) })
}

func FuzzDoRespAgreesWithMsgpack(f *testing.F) {
	wiretest.Seeds(f, doResps())
	f.Fuzz(func(t *testing.T, b []byte) { wiretest.Agrees[doResp](t, b) })
}
