package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossipsync/gossipsync/examples/internal/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLauncher builds the example and runs it as a user would, with no
// flags. Every node must print synced readings; readings taken at the
// same instant must agree within the sum of their uncertainties; each
// physical clock must be off by its skew; the reference must not change
// (all three join before the first one is elected, and a live reference
// is kept); every HLC timestamp must stay close to cluster time; and the
// ping must arrive with a greater HLC timestamp than it left with.
func TestLauncher(t *testing.T) {
	out := demo.RunLauncher(t)
	readings, pings := parseOutput(t, out)
	checkReadings(t, readings)
	checkReference(t, readings)
	checkHLC(t, readings)
	checkPing(t, pings)
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// checkReadings checks the readings of every node.
func checkReadings(t *testing.T, rs []parsed) {
	t.Helper()
	byNode := map[string]int{}
	byTick := map[time.Duration][]parsed{}
	for _, r := range rs {
		byNode[r.node]++
		byTick[r.truth.Round(readEvery)%day] = append(byTick[r.truth.Round(readEvery)%day], r)
	}
	for _, n := range demoNodes {
		if byNode[n.name] < readings-1 {
			t.Errorf("node %s printed %d readings, want at least %d", n.name, byNode[n.name], readings-1)
		}
	}
	for _, r := range rs {
		if off := wrap(r.phys - r.truth); (off - skewOf(r.node)).Abs() > 10*time.Millisecond {
			t.Errorf("%s: physical clock off by %v, want %v", r.line, off, skewOf(r.node))
		}
	}
	pairs, worst := 0, 0.0
	for _, tick := range byTick {
		for i, a := range tick {
			for _, b := range tick[i+1:] {
				pairs++
				worst = max(worst, agree(t, a, b))
			}
		}
	}
	if pairs < readings {
		t.Errorf("got %d pairs of readings taken at the same instant, want at least %d", pairs, readings)
	}
	t.Logf("%d readings, %d pairs; the worst pair used %.0f%% of its bound", len(rs), pairs, 100*worst)
}

// agree checks that two readings taken at about the same instant agree
// within the sum of their uncertainties (guarantee C3), and returns the
// fraction of that bound they used. cluster-true is compared rather than
// cluster time, since the nodes do not read at exactly the same instant.
// The bound allows for the time taking a reading takes (maxGap), the
// rounding to microseconds, and the reference's drift (at most 2000 ppm)
// between the two instants.
func agree(t *testing.T, a, b parsed) float64 {
	t.Helper()
	apart := wrap(a.truth - b.truth).Abs()
	bound := a.u + b.u + maxGap + 4*time.Microsecond + apart*2/1000
	diff := (a.offset - b.offset).Abs()
	if diff > bound {
		t.Errorf("readings %.3fms apart disagree by %v, more than %v:\n  %s\n  %s",
			apart.Seconds()*1e3, diff, bound, a.line, b.line)
	}
	return float64(diff) / float64(bound)
}

// checkReference checks that every reading names the same reference:
// the nodes join before the first reference is elected, and the clock's
// election keeps a live reference, however the others rank.
func checkReference(t *testing.T, rs []parsed) {
	t.Helper()
	refs := map[string]int{}
	for _, r := range rs {
		refs[r.ref]++
	}
	if len(refs) != 1 || refs["-"] > 0 {
		t.Errorf("readings by reference: %v, want one reference throughout", refs)
	}
}

// maxHLCLead bounds how far a reading's HLC wall time may lie from its
// cluster time. A node's HLC follows its own cluster time and the stamps
// of the others, whose cluster time differs by at most the sum of the
// uncertainties (a few hundred microseconds here); an unsynced node
// counts only logically, so b's clock, 3 s fast, cannot drag it ahead.
const maxHLCLead = 10 * time.Millisecond

// checkHLC checks that every reading's HLC wall time is within
// maxHLCLead of its cluster time.
func checkHLC(t *testing.T, rs []parsed) {
	t.Helper()
	for _, r := range rs {
		if d := wrap(r.hlc.wall - r.cluster); d.Abs() > maxHLCLead {
			t.Errorf("%s: hlc wall time %v from cluster time, want within %v", r.line, d, maxHLCLead)
		}
	}
}

// checkPing checks that c received b's ping with a greater HLC timestamp
// than b took before sending.
func checkPing(t *testing.T, p map[string]hlcReading) {
	t.Helper()
	sent, ok1 := p["b sent"]
	got, ok2 := p["c received"]
	if !ok1 || !ok2 {
		t.Errorf("got ping lines %v, want b's sent and c's received", p)
		return
	}
	if d := wrap(got.wall - sent.wall); d < 0 || d == 0 && got.logical <= sent.logical {
		t.Errorf("c received at hlc %v, not after b sent at %v", got, sent)
	}
}

func skewOf(node string) time.Duration {
	for _, n := range demoNodes {
		if n.name == node {
			return n.skew
		}
	}
	return 0
}

// parsed is a reading as printed; times are times of day.
type parsed struct {
	line                    string
	node                    string
	phys, cluster, truth, u time.Duration
	offset                  time.Duration // cluster - truth
	ref                     string
	hlc                     hlcReading
}

type hlcReading struct {
	wall    time.Duration // time of day
	logical uint64
}

var (
	readingRE = regexp.MustCompile(`^phys (\S+)  cluster (\S+) ±\s*(\d+)µs  cluster-true\s+([+-]\d+)µs  ref (\S+)  hlc (\S+)$`)
	pingRE    = regexp.MustCompile(`^ping (?:\S+: (sent)|from \S+: (received)) at hlc (\S+)$`)
)

// parseOutput returns the readings and the ping lines ("b sent", "c
// received") of the launcher's output.
func parseOutput(t *testing.T, out string) ([]parsed, map[string]hlcReading) {
	t.Helper()
	var rs []parsed
	pings := map[string]hlcReading{}
	for l := range strings.Lines(out) {
		node, text, ok := strings.Cut(strings.TrimSpace(l), " | ")
		if !ok {
			continue
		}
		if m := pingRE.FindStringSubmatch(text); m != nil {
			h, err := parseHLC(m[3])
			if err != nil {
				t.Errorf("%s: %v", l, err)
			}
			pings[node+" "+m[1]+m[2]] = h
			continue
		}
		if !strings.HasPrefix(text, "phys ") {
			continue
		}
		r, err := parseReading(text)
		if err != nil {
			t.Errorf("%s: %v", l, err)
			continue
		}
		r.node, r.line = node, strings.TrimSpace(l)
		rs = append(rs, r)
	}
	return rs, pings
}

// parseReading parses a line printed by reading.String.
func parseReading(text string) (parsed, error) {
	m := readingRE.FindStringSubmatch(text)
	if m == nil {
		return parsed{}, errors.New("not a reading")
	}
	phys, err1 := parseTimeOfDay(timeOfDay, m[1])
	cluster, err2 := parseTimeOfDay(timeOfDay, m[2])
	u, err3 := strconv.Atoi(m[3])
	off, err4 := strconv.Atoi(m[4])
	h, err5 := parseHLC(m[6])
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return parsed{}, err
	}
	offset := time.Duration(off) * time.Microsecond
	return parsed{phys: phys, cluster: cluster, truth: (cluster - offset + day) % day, u: time.Duration(u) * time.Microsecond,
		offset: offset, ref: m[5], hlc: h}, nil
}

// parseHLC parses a timestamp printed by formatHLC.
func parseHLC(s string) (hlcReading, error) {
	wall, logical, ok := strings.Cut(s, ",")
	if !ok {
		return hlcReading{}, fmt.Errorf("hlc %q: no logical part", s)
	}
	w, err := parseTimeOfDay("15:04:05.000000000", wall)
	if err != nil {
		return hlcReading{}, err
	}
	l, err := strconv.ParseUint(logical, 10, 32)
	return hlcReading{w, l}, err
}

const day = 24 * time.Hour

// parseTimeOfDay returns the time since midnight.
func parseTimeOfDay(layout, s string) (time.Duration, error) {
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, err
	}
	return t.Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)), nil
}

// wrap brings a difference of times of day into [-12h, 12h), so that
// readings on either side of midnight compare.
func wrap(d time.Duration) time.Duration {
	d %= day
	switch {
	case d >= day/2:
		d -= day
	case d < -day/2:
		d += day
	}
	return d
}

func TestParseReading(t *testing.T) {
	tests := []struct {
		name, text string
		want       parsed
		wantErr    bool
	}{
		{
			name: "follower",
			text: "phys 14:47:58.001631  cluster 14:47:54.999348 ±241µs  cluster-true  -784µs  ref c  hlc 14:47:55.008779703,694",
			want: parsed{phys: tod(14, 47, 58, 1631), cluster: tod(14, 47, 54, 999348), u: 241 * time.Microsecond,
				offset: -784 * time.Microsecond, truth: tod(14, 47, 55, 132), ref: "c",
				hlc: hlcReading{tod(14, 47, 55, 8779) + 703, 694}},
		},
		{
			name: "reference",
			text: "phys 14:47:52.998709  cluster 14:47:54.999377 ±  0µs  cluster-true +1130µs  ref c  hlc 14:47:54.999379000,0",
			want: parsed{phys: tod(14, 47, 52, 998709), cluster: tod(14, 47, 54, 999377),
				offset: 1130 * time.Microsecond, truth: tod(14, 47, 54, 998247), ref: "c",
				hlc: hlcReading{tod(14, 47, 54, 999379), 0}},
		},
		{
			name: "between references",
			text: "phys 14:59:38.500561  cluster 14:59:35.500357 ±475µs  cluster-true   +67µs  ref -  hlc 14:59:37.694310909,118",
			want: parsed{phys: tod(14, 59, 38, 500561), cluster: tod(14, 59, 35, 500357), u: 475 * time.Microsecond,
				offset: 67 * time.Microsecond, truth: tod(14, 59, 35, 500290), ref: "-",
				hlc: hlcReading{tod(14, 59, 37, 694310) + 909, 118}},
		},
		{name: "not a reading", text: "synced after 2.003s: reference a", wantErr: true},
		{name: "bad time", text: "phys 25:47:52.998709  cluster 14:47:54.999377 ±  0µs  cluster-true +1130µs  ref c  hlc 14:47:54.999379000,0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReading(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseReading: got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseReading:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name    string
		in, out time.Duration
	}{
		{"small", -3 * time.Second, -3 * time.Second},
		{"across midnight forward", 1*time.Second - day, time.Second},
		{"across midnight back", day - time.Second, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wrap(tt.in); got != tt.out {
				t.Errorf("wrap(%v) = %v, want %v", tt.in, got, tt.out)
			}
		})
	}
}

// tod returns a time of day, to the microsecond.
func tod(h, m, s, us int) time.Duration {
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(us)*time.Microsecond
}
