package clock

import (
	"errors"
	"fmt"
	"time"

	"github.com/gossipsync/gossipsync/cluster"
)

// Sentinel errors of the clock package; test with errors.Is.
var (
	// ErrUnsynced is returned by readings that cannot be bounded: before
	// the first good sample, after the reference has been out of reach
	// for so long that the drift allowance passed MaxUncertainty, or
	// whenever the uncertainty exceeds MaxUncertainty.
	ErrUnsynced = errors.New("clock: not synchronized")
	// ErrClosed is returned by calls on a closed Clock.
	ErrClosed = errors.New("clock: closed")
	// ErrClockExists is returned by New on a node whose Clock is not
	// closed: a node runs one (share it; close it before making another).
	ErrClockExists = errors.New("clock: the node has a Clock already")
	// errNotReference is returned by a node asked for samples while it is
	// not the reference.
	errNotReference = errors.New("clock: not the reference")
)

func init() {
	cluster.RegisterError("clock.unsynced", ErrUnsynced)
	cluster.RegisterError("clock.closed", ErrClosed)
	cluster.RegisterError("clock.not_reference", errNotReference)
}

// ReferenceGroup is the election group whose leader is the time
// reference. Every Clock campaigns in it.
const ReferenceGroup = "gossipsync.clock"

// Option configures a Clock.
type Option func(*options) error

type options struct {
	source   func() time.Time
	maxU     time.Duration
	maxDrift float64
	interval time.Duration
	window   int
}

// Source sets the node's physical clock; default time.Now. The
// simulation injects skewed and drifting clocks here. Readings should
// carry no monotonic part (t.Round(0)) if the clock can be stepped.
func Source(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("clock: Source: nil function")
		}
		o.source = now
		return nil
	}
}

// WithSource is Source.
//
// Deprecated: options are named without a With prefix across the
// packages (election.Group, lockmgr.TTL); use Source.
func WithSource(now func() time.Time) Option { return Source(now) }

// MaxUncertainty bounds the uncertainty a reading may have; beyond it,
// readings fail with ErrUnsynced. Default 100 ms; at least 1 µs.
func MaxUncertainty(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Microsecond {
			return fmt.Errorf("clock: MaxUncertainty %v: want at least 1µs", d)
		}
		o.maxU = d
		return nil
	}
}

// MaxDrift sets the assumed bound on how fast this node's physical clock
// and the reference's may run apart, in parts per million (each clock
// within ±ppm/2 of true time). Default 2000 ppm, which covers clocks off
// by up to ±1000 ppm; typical quartz is within ±100 ppm. Samples that
// contradict the bound are rejected. The uncertainty grows by this rate
// between samples.
func MaxDrift(ppm float64) Option {
	return func(o *options) error {
		if ppm <= 0 || ppm > 1e5 {
			return fmt.Errorf("clock: MaxDrift %v ppm: want more than 0 and at most 100000", ppm)
		}
		o.maxDrift = ppm / 1e6
		return nil
	}
}

// SyncInterval sets how often a node samples the reference. Default from
// the cluster profile: 100 ms on Local, 1 s on LAN, 5 s on WAN.
func SyncInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("clock: SyncInterval %v: want at least 1ms", d)
		}
		o.interval = d
		return nil
	}
}

func defaults(p cluster.Profile) options {
	o := options{source: time.Now, maxU: 100 * time.Millisecond, maxDrift: 2000e-6, window: 8}
	switch p {
	case cluster.Local:
		o.interval = 100 * time.Millisecond
	case cluster.WAN:
		o.interval = 5 * time.Second
	default:
		o.interval = time.Second
	}
	return o
}

// samplesPerRound is how many exchanges a sync round makes back to back;
// the filter keeps the tightest bound they give together.
const samplesPerRound = 3
