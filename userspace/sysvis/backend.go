package sysvis

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Backend names, in the order [Start] tries them with "auto".
const (
	BackendKprobe     = "kprobe"
	BackendFentry     = "fentry"
	BackendTracepoint = "tracepoint"
	BackendPoll       = "poll"
)

// Backends lists every backend, in the order "auto" tries them.
var Backends = []string{BackendKprobe, BackendFentry, BackendTracepoint, BackendPoll}

// ErrUnsupported reports that a backend cannot run on this system (the
// kernel lacks a feature, or the platform is not Linux).
var ErrUnsupported = errors.New("sysvis: not supported")

// Defaults of [Options].
const (
	DefaultPollInterval = 100 * time.Millisecond // NFStream's system_visibility_poll_ms
	DefaultRingBytes    = 1 << 20
	// PollBusy is a PollInterval without pause between polls (NFStream's
	// system_visibility_poll_ms 0).
	PollBusy time.Duration = -1
)

// Options configures [Start].
type Options struct {
	// Backend is "auto" (or empty: the first of [Backends] that runs) or
	// one of the Backend* names.
	Backend string
	// PollInterval is the time between two polls of the poll backend. 0
	// means DefaultPollInterval; [PollBusy] polls without pause.
	PollInterval time.Duration
	// RingBytes is the BPF ring buffer size of the kernel backends (a power
	// of two, at least a page). 0 means DefaultRingBytes.
	RingBytes int
	// AllNetNS reports sockets of every network namespace. By default only
	// sockets of the caller's namespace (where the metered interface is)
	// are reported: a socket of another namespace with the same endpoints
	// would otherwise take the flow.
	AllNetNS bool
	// Logger receives the backend choice and the reasons for skipping the
	// others. nil discards.
	Logger *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Backend observes socket ownership and reports it to a [Sink].
type Backend interface {
	// Name is one of the Backend* names.
	Name() string
	// Start attaches and reports events to sink until ctx is done or Close
	// is called. It returns once the backend observes sockets: sockets
	// used after Start returns are reported.
	Start(ctx context.Context, sink Sink) error
	// Close detaches and stops reporting; it waits for the reporting
	// goroutines to return.
	Close() error
	// Stats returns the backend's counters so far.
	Stats() Stats
}

// Stats are a backend's counters.
type Stats struct {
	Events uint64 // events reported
	Lost   uint64 // events lost (BPF ring buffer full)
}
