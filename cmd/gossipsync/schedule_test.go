package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuildScheduleIsDeterministic(t *testing.T) {
	names := nodeNames(5)
	for seed := range int64(20) {
		a := buildSchedule(seed, time.Minute, names, userFaults)
		b := buildSchedule(seed, time.Minute, names, userFaults)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two schedules differ:\n%v\n%v", seed, a, b)
		}
	}
	if reflect.DeepEqual(buildSchedule(1, time.Minute, names, userFaults), buildSchedule(2, time.Minute, names, userFaults)) {
		t.Error("seeds 1 and 2 gave the same schedule")
	}
}

func TestBuildScheduleFollowsTheRules(t *testing.T) {
	tests := []struct {
		name   string
		faults []fault
		want   []fault // the kinds of phase allowed
	}{
		{"partition", []fault{faultPartition}, []fault{faultPartition, faultHeal}},
		{"crash", []fault{faultCrash}, []fault{faultCrash, faultRestart}},
		{"loss", []fault{faultLoss}, []fault{faultLoss}},
		{"partition,crash", []fault{faultPartition, faultCrash}, []fault{faultPartition, faultHeal, faultCrash, faultRestart}},
		{"pause", []fault{faultPause}, []fault{faultPause}},
		{"all", userFaults, allFaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, nodes := range []int{3, 4, 5, 9} {
				for _, d := range []time.Duration{3 * time.Second, 8 * time.Second, 30 * time.Second, 5 * time.Minute} {
					for seed := range int64(30) {
						s := buildSchedule(seed, d, nodeNames(nodes), tt.faults)
						if err := checkSchedule(s, d, nodeNames(nodes), tt.want); err != nil {
							t.Fatalf("%d nodes, %v, seed %d: %v\nschedule: %v", nodes, d, seed, err, s)
						}
						if f, ok := missingFault(s, tt.faults); ok && d >= 30*time.Second {
							t.Fatalf("%d nodes, %v, seed %d: no %v phase in %v", nodes, d, seed, f, s)
						}
					}
				}
			}
		})
	}
}

// checkSchedule returns the first rule that s breaks.
func checkSchedule(s []phase, d time.Duration, names []string, allowed []fault) error {
	var at time.Duration
	var crashed []string
	partitioned := false
	for i, p := range s {
		if !slices.Contains(allowed, p.Fault) {
			return fmt.Errorf("phase %d: %v is not among %v", i, p.Fault, allowed)
		}
		if p.Start != at || p.Length < minPhase {
			return fmt.Errorf("phase %d: starts at %v for %v; want start %v, length >= %v", i, p.Start, p.Length, at, minPhase)
		}
		at += p.Length
		if partitioned != (p.Fault == faultHeal) {
			return fmt.Errorf("phase %d: %v; a heal must follow each partition, and only a partition", i, p.Fault)
		}
		partitioned = p.Fault == faultPartition
		switch p.Fault {
		case faultPartition:
			alive := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(crashed, n) })
			both := slices.SortedFunc(slices.Values(append(slices.Clone(p.Majority), p.Minority...)), compareNames)
			if len(p.Minority) == 0 || len(p.Majority) <= len(p.Minority) || !slices.Equal(both, alive) {
				return fmt.Errorf("phase %d: %v is not a majority/minority split of the alive %v", i, p, alive)
			}
		case faultCrash:
			if slices.Contains(crashed, p.Node) || !slices.Contains(names, p.Node) {
				return fmt.Errorf("phase %d: crashes %s, which is not an alive node", i, p.Node)
			}
			crashed = append(crashed, p.Node)
			if len(crashed) > max(1, (len(names)-1)/2) {
				return fmt.Errorf("phase %d: %d nodes down at once", i, len(crashed))
			}
		case faultRestart:
			if !slices.Contains(crashed, p.Node) {
				return fmt.Errorf("phase %d: restarts %s, which is not crashed", i, p.Node)
			}
			crashed = slices.DeleteFunc(crashed, func(n string) bool { return n == p.Node })
		case faultPause:
			if slices.Contains(crashed, p.Node) || !slices.Contains(names, p.Node) {
				return fmt.Errorf("phase %d: pauses %s, which is not an alive node", i, p.Node)
			}
			if p.Pause < minPause || p.Pause > maxPause || p.Pause > p.Length-minPause {
				return fmt.Errorf("phase %d: pause of %v; want %v to %v, and %v left of the phase", i, p.Pause, minPause, maxPause, minPause)
			}
		case faultLoss:
			if p.Loss < minLoss || p.Loss > maxLoss {
				return fmt.Errorf("phase %d: loss %v is outside [%v, %v]", i, p.Loss, minLoss, maxLoss)
			}
		}
	}
	if at != d {
		return fmt.Errorf("phases fill %v, want %v", at, d)
	}
	return nil
}

// missingFault returns a fault of faults that s never makes.
func missingFault(s []phase, faults []fault) (fault, bool) {
	for _, f := range faults {
		if !slices.ContainsFunc(s, func(p phase) bool { return p.Fault == f }) {
			return f, true
		}
	}
	return "", false
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []fault
		wantErr string
	}{
		{"partition,crash,loss,pause", userFaults, ""},
		{"pause", []fault{faultPause}, ""},
		{"loss", []fault{faultLoss}, ""},
		{" crash , partition,crash", []fault{faultCrash, faultPartition}, ""},
		{"heal", nil, `unknown fault "heal"`},
		{"partition,,loss", nil, `unknown fault ""`},
		{"", nil, `unknown fault ""`},
	}
	for _, tt := range tests {
		got, err := parseFaults(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseFaults(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseFaults(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5 * ms}, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 8 * ms}, 3 * ms},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
