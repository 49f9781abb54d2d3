package lockmgr_test

import (
	"testing"

	"github.com/gossipsync/gossipsync/lockmgr"
)

func TestParseSlotID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		sem  string
		slot int
		ok   bool
	}{
		{lockmgr.SlotID("pool", 0), "pool", 0, true},
		{lockmgr.SlotID("a/b", 17), "a/b", 17, true},
		{"pool", "", 0, false},
		{"\x00sem/", "", 0, false},
		{"\x00sem/x/pool", "", 0, false},
		{"\x00sem/-1/pool", "", 0, false},
		{"\x00sem/01/pool", "", 0, false},
		{"\x00sem/1", "", 0, false},
	} {
		sem, slot, ok := lockmgr.ParseSlotID(tt.id)
		if sem != tt.sem || slot != tt.slot || ok != tt.ok {
			t.Errorf("ParseSlotID(%q) = %q, %d, %v; want %q, %d, %v", tt.id, sem, slot, ok, tt.sem, tt.slot, tt.ok)
		}
	}
}

// FuzzParseSlotID: whatever the id, a slot it reads back gives the id.
func FuzzParseSlotID(f *testing.F) {
	f.Add(lockmgr.SlotID("pool", 3))
	f.Add("\x00sem/9999999999999999999999/x")
	f.Add("jobs/1")
	f.Fuzz(func(t *testing.T, id string) {
		if sem, slot, ok := lockmgr.ParseSlotID(id); ok && lockmgr.SlotID(sem, slot) != id {
			t.Errorf("ParseSlotID(%q) = %q, %d: SlotID gives %q", id, sem, slot, lockmgr.SlotID(sem, slot))
		}
	})
}
