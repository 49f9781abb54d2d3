package timesync_test

import (
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/internal/timesync"
)

func ExampleFilter() {
	local := time.Unix(1_700_000_000, 0) // the local clock at the first request
	ms := time.Millisecond
	// The reference is 100ms ahead. The first exchange's request takes 9ms
	// and its reply 1ms; the second's 1ms and 7ms.
	f := timesync.NewFilter(8, 2e-3)
	f.Add(timesync.Sample{T1: local, T2: local.Add(109 * ms), T3: local.Add(109 * ms), T4: local.Add(10 * ms)})
	t1 := local.Add(time.Second)
	f.Add(timesync.Sample{T1: t1, T2: t1.Add(101 * ms), T3: t1.Add(101 * ms), T4: t1.Add(8 * ms)})

	// Sample 1 says 104ms ± 5ms, widened by drift to ± 7.016ms one second
	// later; sample 2 says 97ms ± 4.016ms. Their intersection:
	now := t1.Add(8 * ms)
	b, _ := f.Bound(now)
	fmt.Println(b.Offset, "±", b.Uncertainty)
	fmt.Println("contains the truth:", b.Contains(now, now.Add(100*ms)))
	fmt.Println("best RTT", f.BestRTT())
	// Output:
	// 99ms ± 2.016ms
	// contains the truth: true
	// best RTT 8ms
}
