package flows

import (
	"fmt"
	"runtime"
)

// AccountingMode selects which packet size feeds every byte and size
// statistic of a flow (NFStream's accounting_mode).
type AccountingMode uint8

const (
	AccountRaw       AccountingMode = 0 // wire length (NFStream truncates it to 16 bits: see MaxFrameLen)
	AccountIP        AccountingMode = 1 // IPv4 total length / IPv6 payload length
	AccountTransport AccountingMode = 2 // L4 length (0 for non TCP/UDP/ICMP)
	AccountPayload   AccountingMode = 3 // L4 payload length
)

// Limits of the options, as NFStream validates them, and nfmeter's own.
const (
	MaxNDissections    = 255
	MaxSPLT            = 65535
	MaxSnapshotLength  = 1<<31 - 1 // libpcap's snaplen is a C int
	MaxNMeters         = 1024
	MaxDissectorShards = 64
	// MaxAutoMeters caps the meters [Options.Meters] picks from the CPU
	// count.
	MaxAutoMeters = 8
	maxTimeoutSec = (1<<64 - 1) / 1000
	maxPollMs     = 1<<31 - 1
)

// Options configures a [Streamer]. Start from [DefaultOptions]: the zero
// value is not NFStream's default (DecodeTunnels is true there).
type Options struct {
	DecodeTunnels       bool           // decode GTP-U, CAPWAP and TZSP (decode_tunnels)
	BPFFilter           string         // libpcap filter expression (bpf_filter), empty for none
	SnapshotLength      int            // live capture snap length (snapshot_length); ignored offline
	IdleTimeout         uint64         // seconds (idle_timeout)
	ActiveTimeout       uint64         // seconds (active_timeout)
	AccountingMode      AccountingMode // accounting_mode
	NDissections        int            // packets given to nDPI per flow (n_dissections), 0 disables it
	StatisticalAnalysis bool           // the 48 post-mortem statistics (statistical_analysis)
	SPLTAnalysis        int            // early packet sequence length (splt_analysis)
	NMeters             int            // parallel workers; 0 picks from the CPU count (n_meters), see [Options.Meters]
	MaxNFlows           uint64         // stop after this many flows; 0 is unlimited (max_nflows)
	Plugins             []Plugin       // user plugins, run in order (udps)
	// SystemVisibilityMode is NFStream's system_visibility_mode: 1 adds the
	// columns system_process_pid and system_process_name, filled by the
	// caller (live capture: userspace/sysvis) through [Flow.SetProcess];
	// 0 (the default) leaves them out. Offline, NFStream switches a single
	// file to 0 and keeps the columns, with their defaults, for several
	// files: that is the caller's choice, the engine only follows this value.
	SystemVisibilityMode int
	// SystemVisibilityPollMs is NFStream's system_visibility_poll_ms: how
	// often, in milliseconds, a socket-table poller looks for sockets
	// (0: without pause). NFStream's default is 100; the zero value here
	// is "without pause", so start from [DefaultOptions].
	SystemVisibilityPollMs int
	// NewDissector creates the application classifier (nDPI) of one
	// iteration; required when NDissections > 0. See userspace/ndpi.
	NewDissector func() (Dissector, error)
	// NewFilter compiles BPFFilter for frames of one link type (a libpcap
	// DLT number); required when BPFFilter is not empty. Each decoding
	// goroutine compiles its own, once per link type. See
	// userspace/bpffilter.
	NewFilter func(expr string, linkType int) (Filter, error)
	// DissectorShards is the number of dissectors (nDPI modules) flows are
	// spread over by hash, 1 to [MaxDissectorShards]; with NMeters > 1 each
	// runs on its own goroutine. Labels depend on this number (nDPI caches
	// are per module) but not on NMeters. [DefaultOptions] sets 1, which is
	// what NFStream's single meter does. It matters only with NDissections > 0.
	DissectorShards int
}

// Dissector classifies flows (NFStream's nDPI integration). It is used by
// one goroutine at a time.
type Dissector interface {
	NewFlow() DissectorFlow
	Close() error
}

// DissectorFlow is one flow's classifier state. NewFlow may be called while
// other flows of the same Dissector are being classified on another
// goroutine.
type DissectorFlow interface {
	// Packet gives the flow's next packet: its bytes from the IP header and
	// its clamped time.
	Packet(l3 []byte, timeMs uint64)
	// Done reports that no more packets are needed.
	Done() bool
	// Finish completes the classification and releases the state.
	Finish() AppInfo
	// Free releases the state without classifying.
	Free()
}

// DefaultOptions returns NFStream 6.5.4's defaults.
func DefaultOptions() Options {
	return Options{
		DecodeTunnels:  true,
		SnapshotLength: 1536,
		IdleTimeout:    120,
		ActiveTimeout:  1800,
		NDissections:   20,

		SystemVisibilityPollMs: 100,
		DissectorShards:        1,
	}
}

// ParamError reports an option outside its accepted range. Param is the
// parameter's snake_case name: NFStream's for NFStream's parameters (and
// for the options of other packages that report a ParamError, the name a
// command line would give them), so that a caller can name its own
// setting for it.
type ParamError struct {
	Param    string
	Value    any
	Accepted string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("invalid %s %v: accepted values are %s", e.Param, e.Value, e.Accepted)
}

// Validate checks every option against NFStream's accepted ranges (and
// nfmeter's, for its own options) and returns a [*ParamError] for the first
// one out of range, in NFStream's order. It is the only check of these
// ranges: callers map the error to their own setting rather than check
// again.
func (o *Options) Validate() error {
	switch {
	case o.SnapshotLength <= 0 || o.SnapshotLength > MaxSnapshotLength:
		return &ParamError{"snapshot_length", o.SnapshotLength, fmt.Sprintf("1 to %d bytes", MaxSnapshotLength)}
	case o.IdleTimeout > maxTimeoutSec:
		return &ParamError{"idle_timeout", o.IdleTimeout, fmt.Sprintf("0 to %d seconds", uint64(maxTimeoutSec))}
	case o.ActiveTimeout > maxTimeoutSec:
		return &ParamError{"active_timeout", o.ActiveTimeout, fmt.Sprintf("0 to %d seconds", uint64(maxTimeoutSec))}
	case o.AccountingMode > AccountPayload:
		return &ParamError{"accounting_mode", o.AccountingMode, "0, 1, 2, 3"}
	case o.NDissections < 0 || o.NDissections > MaxNDissections:
		return &ParamError{"n_dissections", o.NDissections, "0 to 255"}
	case o.SPLTAnalysis < 0 || o.SPLTAnalysis > MaxSPLT:
		return &ParamError{"splt_analysis", o.SPLTAnalysis, "0 to 65535"}
	case o.NMeters < 0 || o.NMeters > MaxNMeters:
		return &ParamError{"n_meters", o.NMeters, fmt.Sprintf("0 (auto) to %d", MaxNMeters)}
	case o.DissectorShards < 1 || o.DissectorShards > MaxDissectorShards:
		return &ParamError{"dissector_shards", o.DissectorShards, fmt.Sprintf("1 to %d", MaxDissectorShards)}
	case o.SystemVisibilityMode != 0 && o.SystemVisibilityMode != 1:
		return &ParamError{"system_visibility_mode", o.SystemVisibilityMode, "0 (off), 1 (process information)"}
	case o.SystemVisibilityPollMs < 0 || o.SystemVisibilityPollMs > maxPollMs:
		return &ParamError{"system_visibility_poll_ms", o.SystemVisibilityPollMs, "integers >= 0 (milliseconds)"}
	}
	for i, p := range o.Plugins {
		if p == nil {
			return &ParamError{"udps", fmt.Sprintf("plugin %d is nil", i), "non-nil values implementing flows.Plugin"}
		}
	}
	return nil
}

// newDissectorShards creates the DissectorShards dissectors (at least
// one), closing those already made if one fails.
func (o *Options) newDissectorShards() ([]Dissector, error) {
	var ds []Dissector
	for range max(o.DissectorShards, 1) {
		d, err := o.NewDissector()
		if err != nil {
			for _, d := range ds {
				d.Close()
			}
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Meters is the number of meters NMeters asks for: NMeters itself, or for
// 0 one per CPU (GOMAXPROCS), at most [MaxAutoMeters]. Every producer of
// flows (offline, AF_PACKET) and every consumer sizing its workers by them
// uses this one policy.
func (o *Options) Meters() int {
	if o.NMeters > 0 {
		return o.NMeters
	}
	return min(max(runtime.GOMAXPROCS(0), 1), MaxAutoMeters)
}
