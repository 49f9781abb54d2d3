package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gossipsync/gossipsync/realnet"
)

// FuzzStoreHandle: any request line gets an answer (OK, a refusal or an
// error) and never lowers the last token accepted for an id.
func FuzzStoreHandle(f *testing.F) {
	for _, s := range []string{"W a 5 n1", "W a 3 n2", "W a x n1", "X a 1 n1", "W", "", "W a 18446744073709551615 n1", "W a -1 n1"} {
		f.Add(s)
	}
	h, err := realnet.Create(filepath.Join(f.TempDir(), "store.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	st := &store{h: h, last: map[string]uint64{}}
	f.Fuzz(func(t *testing.T, line string) {
		fields := strings.Fields(line)
		before := map[string]uint64{}
		for k, v := range st.last {
			before[k] = v
		}
		reply := st.handle(fields)
		if reply != "OK" && !strings.HasPrefix(reply, "stale ") && !strings.HasPrefix(reply, "ERR ") {
			t.Fatalf("handle(%q) = %q", line, reply)
		}
		for k, v := range before {
			if st.last[k] < v {
				t.Fatalf("handle(%q) lowered %s from %d to %d", line, k, v, st.last[k])
			}
		}
		if reply == "OK" && st.last[fields[1]] < before[fields[1]] {
			t.Fatalf("accepted %q below the last token", line)
		}
	})
}
