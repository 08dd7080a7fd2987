//go:build linux

package kmeter

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
)

// SnapMax is the most bytes of a frame the kernel copies to userspace.
const SnapMax = len(bpfobj.MeterScratch{}.Ev.Data)

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
	// Both sizes are set and validated by New.
	spec.Maps[bpfobj.MeterMapFlows].MaxEntries = uint32(o.MaxFlows)
	spec.Maps[bpfobj.MeterMapEvents].MaxEntries = uint32(o.RingBytes)
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
