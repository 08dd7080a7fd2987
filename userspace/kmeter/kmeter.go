//go:build linux

package kmeter

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Defaults of [Options].
const (
	DefaultMaxFlows  = 131072
	DefaultRingBytes = 32 << 20
	// SnapMax is the most bytes of a frame the kernel copies to userspace.
	SnapMax = len(bpfobj.MeterScratch{}.Ev.Data)
)

// Options configures a [Meter].
type Options struct {
	// Flow options: timeouts, accounting mode, statistics, SPLT, nDPI,
	// decode_tunnels and the snapshot length of copied packets. Plugins
	// and a BPF filter are refused: the kernel path sees only each flow's
	// first packets and cannot run a libpcap filter.
	Flow flows.Options
	// MaxFlows is the size of the kernel flow table, preallocated at about
	// 410 bytes of kernel memory an entry; new flows that do not fit are
	// metered in userspace (and counted as MapFull). 0 means
	// DefaultMaxFlows.
	MaxFlows int
	// RingBytes is the size of the ring buffer (a power of two, at least
	// one page). 0 means DefaultRingBytes.
	RingBytes int
	// SweepInterval is how often idle flows are looked for. 0 picks
	// from the idle timeout (at most 1 s).
	SweepInterval time.Duration
	Logger        *slog.Logger
}

func (o *Options) validate() error {
	if err := o.Flow.Validate(); err != nil {
		return err
	}
	if len(o.Flow.Plugins) > 0 {
		return errors.New("plugins need every packet of a flow: use AF_PACKET capture (--mode afpacket)")
	}
	if o.Flow.BPFFilter != "" {
		return errors.New("a BPF filter cannot run in the kernel path: use AF_PACKET capture (--mode afpacket)")
	}
	if o.MaxFlows < 0 {
		return fmt.Errorf("kernel flow table size %d: must be positive", o.MaxFlows)
	}
	if r := o.RingBytes; r != 0 && (r < unix.Getpagesize() || r&(r-1) != 0) {
		return fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", r, unix.Getpagesize())
	}
	return nil
}

// clock converts CLOCK_MONOTONIC (bpf_ktime_get_ns, the cheapest precise
// clock a program can read) to wall-clock milliseconds with the offset the
// programs were loaded with, so that userspace and kernel agree even if
// the wall clock is stepped later.
type clock struct{ offsetNs int64 }

func newClock() clock {
	var b, r unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	return clock{r.Nano() - b.Nano()}
}

func (c clock) nowMs() uint64 {
	var b unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
	return uint64(b.Nano()+c.offsetNs) / 1e6
}

// load loads the programs and maps configured by o.
func load(o *Options, c clock) (*bpfobj.MeterObjects, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := bpfobj.LoadMeter()
	if err != nil {
		return nil, fmt.Errorf("load meter spec: %w", err)
	}
	f := &o.Flow
	nCopy := max(f.NDissections, f.SPLTAnalysis)
	snap := f.SnapshotLength // > 0: validated
	stats := uint8(0)
	if f.StatisticalAnalysis {
		stats = 1
	}
	tunnels := uint8(0)
	if f.DecodeTunnels {
		tunnels = 1
	}
	vars := map[string]any{
		bpfobj.MeterVarCfgAccountingMode: uint8(f.AccountingMode),
		bpfobj.MeterVarCfgDecodeTunnels:  tunnels,
		bpfobj.MeterVarCfgStatistics:     stats,
		bpfobj.MeterVarCfgN_copy:         uint32(nCopy),
		bpfobj.MeterVarCfgSnaplen:        uint32(min(snap, SnapMax)),
		bpfobj.MeterVarCfgIdleMs:         f.IdleTimeout * 1000,
		bpfobj.MeterVarCfgActiveMs:       f.ActiveTimeout * 1000,
		bpfobj.MeterVarCfgClockOffsetNs:  uint64(c.offsetNs),
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("meter spec: no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	maxFlows := o.MaxFlows
	if maxFlows == 0 {
		maxFlows = DefaultMaxFlows
	}
	ring := o.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	spec.Maps[bpfobj.MeterMapFlows].MaxEntries = uint32(maxFlows)
	spec.Maps[bpfobj.MeterMapEvents].MaxEntries = uint32(ring)
	var objs bpfobj.MeterObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load meter programs: %+v", ve)
		}
		return nil, fmt.Errorf("load meter programs: %w", err)
	}
	return &objs, nil
}
