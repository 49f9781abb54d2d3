package leases

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func sampleCmds() [][]Cmd {
	h := Holder{Node: "n1", Owner: "m-1", Handle: 7}
	return [][]Cmd{
		{},
		{{Op: OpClaim, Key: "l/a", Holder: h, TTL: time.Second}},
		{{Op: OpClaim, Key: "l/" + strings.Repeat("k", 300), Holder: h, TTL: 10 * time.Second,
			Free: &Cmd{Op: OpRelease, Key: "l/a", Holder: Holder{Node: "n2"}, Token: 1 << 60}}},
		{{Op: OpRenew, Key: "e/g", Holder: Holder{Node: "n3", Owner: "cand", Priority: -3}, Token: 99, TTL: -1},
			{Op: OpExpire, Key: "x", Token: 5, Seq: 1 << 33}, {Op: OpFound, Token: 1 << 52, Quiet: true},
			{Op: OpClaim, Key: "e/g", Holder: Holder{Priority: 1 << 40}, Preempt: true}, {Op: OpEndQuiet}},
	}
}

func sampleResults() [][]Result {
	return [][]Result{
		{},
		{{OK: true, Token: 12, Last: 12}},
		{{Holder: &Holder{Node: "n", Owner: "o", Handle: 1, Priority: -1}, Token: 1 << 50, Remaining: 1500 * time.Millisecond},
			{Quiet: true}, {OK: true, Preempt: true}, {Remaining: -5}},
	}
}

// same compares as the wire does: nil and empty slices alike.
func same[T any](a, b []T) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }

// TestCodec: msgpack reads what AppendCmds and AppendResults write into
// the same values, and so do ParseCmds and ParseResults, with nothing
// left over.
func TestCodec(t *testing.T) {
	for i, want := range sampleCmds() {
		b := AppendCmds(nil, want)
		var viaMsgpack []Cmd
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("cmds %d: msgpack cannot read them: %v", i, err)
		}
		viaParse, rest, ok := ParseCmds(b)
		if !ok || len(rest) != 0 {
			t.Fatalf("cmds %d: ParseCmds refused its own form (rest %x)", i, rest)
		}
		if !same(viaMsgpack, want) || !same(viaParse, want) {
			t.Fatalf("cmds %d: msgpack read %+v, ParseCmds %+v, want %+v", i, viaMsgpack, viaParse, want)
		}
	}
	for i, want := range sampleResults() {
		b := AppendResults(nil, want)
		var viaMsgpack []Result
		if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
			t.Fatalf("results %d: msgpack cannot read them: %v", i, err)
		}
		viaParse, rest, ok := ParseResults(b)
		if !ok || len(rest) != 0 {
			t.Fatalf("results %d: ParseResults refused its own form (rest %x)", i, rest)
		}
		if !same(viaMsgpack, want) || !same(viaParse, want) {
			t.Fatalf("results %d: msgpack read %+v, ParseResults %+v, want %+v", i, viaMsgpack, viaParse, want)
		}
	}
}

// agree checks that whatever parse reads from a whole payload b, msgpack
// reads the same.
func agree[T any](t *testing.T, b []byte, parse func([]byte) ([]T, []byte, bool)) {
	viaParse, rest, ok := parse(b)
	if !ok || len(rest) != 0 {
		return
	}
	var viaMsgpack []T
	if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil {
		t.Fatalf("parsed %+v from %x, which msgpack refuses: %v", viaParse, b, err)
	}
	if !same(viaParse, viaMsgpack) {
		t.Fatalf("%x: parsed %+v, msgpack %+v", b, viaParse, viaMsgpack)
	}
}

// FuzzCmdsAgreeWithMsgpack: whatever ParseCmds reads, msgpack reads the
// same.
func FuzzCmdsAgreeWithMsgpack(f *testing.F) {
	for _, cmds := range sampleCmds() {
		f.Add(AppendCmds(nil, cmds))
		b, err := msgpack.Marshal(cmds)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b, ParseCmds) })
}

// FuzzResultsAgreeWithMsgpack: whatever ParseResults reads, msgpack
// reads the same.
func FuzzResultsAgreeWithMsgpack(f *testing.F) {
	for _, res := range sampleResults() {
		f.Add(AppendResults(nil, res))
		b, err := msgpack.Marshal(res)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b, ParseResults) })
}
