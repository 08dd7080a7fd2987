package kmeter

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// This file builds on every platform, so that a command can show the
// defaults and check the options of the kernel path wherever it runs.

// Defaults and limits of [Options].
const (
	DefaultMaxFlows  = 131072
	DefaultRingBytes = 32 << 20
	MaxMaxFlows      = 1<<31 - 1
	MaxRingBytes     = 1 << 30
)

// Options configures a [Meter].
type Options struct {
	// Flow options: timeouts, accounting mode, statistics, SPLT, nDPI,
	// decode_tunnels and the snapshot length of copied packets. Plugins
	// and a BPF filter are refused (see [Supports]).
	Flow flows.Options
	// MaxFlows is the size of the kernel flow table, preallocated at about
	// 480 bytes of kernel memory an entry; new flows that do not fit are
	// metered in userspace (and counted as MapFull). 1 to [MaxMaxFlows];
	// [New] reads 0 as DefaultMaxFlows.
	MaxFlows int
	// RingBytes is the size of the ring buffer: a power of two from a page
	// to [MaxRingBytes]. [New] reads 0 as DefaultRingBytes.
	RingBytes int
	// SweepInterval is how often idle flows are looked for. 0 picks
	// from the idle timeout (at most 1 s).
	SweepInterval time.Duration
	// Logger receives the warnings of a running meter (a failed detach, a
	// punted packet the kernel table refused); nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns NFStream's flow defaults ([flows.DefaultOptions])
// with the default kernel table and ring buffer sizes.
func DefaultOptions() Options {
	return Options{Flow: flows.DefaultOptions(), MaxFlows: DefaultMaxFlows, RingBytes: DefaultRingBytes}
}

// withDefaults replaces the zero sizes by their defaults.
func (o Options) withDefaults() Options {
	if o.MaxFlows == 0 {
		o.MaxFlows = DefaultMaxFlows
	}
	if o.RingBytes == 0 {
		o.RingBytes = DefaultRingBytes
	}
	return o
}

// Validate checks o as given and returns a [*flows.ParamError] for the
// first option out of range: the flow options ([flows.Options.Validate]),
// then kernel_max_flows (MaxFlows) and ring_buffer_size (RingBytes). Zero
// sizes are refused here; [New] replaces them by their defaults before it
// validates. Whether the kernel path can run the flow options at all is
// [Supports]'s question.
func (o *Options) Validate() error {
	if err := o.Flow.Validate(); err != nil {
		return err
	}
	if o.MaxFlows < 1 || o.MaxFlows > MaxMaxFlows {
		return &flows.ParamError{Param: "kernel_max_flows", Value: o.MaxFlows, Accepted: fmt.Sprintf("1 to %d", MaxMaxFlows)}
	}
	// The kernel maps a ring buffer as whole pages.
	page := os.Getpagesize()
	if r := o.RingBytes; r < page || r > MaxRingBytes || r&(r-1) != 0 {
		return &flows.ParamError{Param: "ring_buffer_size", Value: r, Accepted: fmt.Sprintf("a power of two from %d to %d", page, MaxRingBytes)}
	}
	return nil
}

// ErrUnsupported is what every [UnsupportedError] is: flow options the
// kernel path cannot run, which a userspace capture can.
var ErrUnsupported = errors.New("not supported by the kernel path")

// UnsupportedError names a flow option the kernel path cannot run and why.
// It matches [ErrUnsupported] with errors.Is.
type UnsupportedError struct {
	Param  string // the option's snake_case name, as in [flows.ParamError]
	Reason string
}

func (e *UnsupportedError) Error() string { return e.Reason }

// Is reports whether target is [ErrUnsupported].
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Supports reports whether the kernel path can meter with o, and if not
// returns an [*UnsupportedError]: the programs see only each flow's first
// packets, which plugins cannot work with, and they cannot run a libpcap
// filter. [New] refuses the same options.
func Supports(o *flows.Options) error {
	switch {
	case len(o.Plugins) > 0:
		return &UnsupportedError{"udps", "plugins need every packet of a flow"}
	case o.BPFFilter != "":
		return &UnsupportedError{"bpf_filter", "a BPF filter cannot run in the kernel path"}
	}
	return nil
}
