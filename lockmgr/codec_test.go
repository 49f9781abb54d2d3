package lockmgr

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gossipsync/gossipsync/internal/wire/wiretest"
)

var testHolder = holder{Node: "n1", Mgr: "0123456789abcdef", Handle: 1 << 40}

func acquireReqs() []acquireReq {
	return []acquireReq{
		{},
		{ID: "orders/42", Holder: testHolder, TTL: 10 * time.Second, Quorum: true},
		{ID: strings.Repeat("x", 300), Holder: holder{}, TTL: -1, Try: true, Replicas: -3},
		{ID: "a", TTL: math.MaxInt64, Replicas: math.MaxInt32},
	}
}

func acquireResps() []acquireResp {
	return []acquireResp{{}, {Token: 1 << 52, Waited: 3 * time.Millisecond}, {Token: 1, Waited: -1}}
}

func wakeReqs() []wakeReq {
	return []wakeReq{
		{},
		{ID: "orders/42", Release: releaseReq{ID: "orders/42", Token: 1 << 52, Holder: testHolder, Final: true}},
		{ID: "b", Release: releaseReq{Holder: holder{Node: "n2"}}},
	}
}

func TestCodec(t *testing.T) {
	wiretest.RoundTrip(t, acquireReqs())
	wiretest.RoundTrip(t, acquireResps())
	wiretest.RoundTrip(t, wakeReqs())
}

func FuzzAcquireReqAgreesWithMsgpack(f *testing.F) {
	wiretest.Seeds(f, acquireReqs())
	f.Fuzz(func(t *testing.T, b []byte) { wiretest.Agrees[acquireReq](t, b) })
}

func FuzzAcquireRespAgreesWithMsgpack(f *testing.F) {
	wiretest.Seeds(f, acquireResps())
	f.Fuzz(func(t *testing.T, b []byte) { wiretest.Agrees[acquireResp](t, b) })
}

func FuzzWakeReqAgreesWithMsgpack(f *testing.F) {
	wiretest.Seeds(f, wakeReqs())
	f.Fuzz(func(t *testing.T, b []byte) { wiretest.Agrees[wakeReq](t, b) })
}
