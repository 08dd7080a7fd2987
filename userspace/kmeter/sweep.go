//go:build linux

package kmeter

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
)

func (m *Meter) sweepInterval() time.Duration {
	if m.opts.SweepInterval > 0 {
		return m.opts.SweepInterval
	}
	d := time.Duration(m.opts.Flow.IdleTimeout) * time.Second / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

// sweep removes and finishes the flows idle for the idle timeout (all of
// them when final), oldest first.
func (k *kernelSide) sweep(final bool) error {
	const chunk = 4096
	if k.keys == nil {
		k.keys = make([]bpfobj.MeterFlowKey, chunk)
		k.vals = make([]bpfobj.MeterFlowState, chunk)
	}
	m := k.m
	now := m.clock.nowMs()
	idle := m.opts.Flow.IdleTimeout * 1000
	type cand struct {
		key        bpfobj.MeterFlowKey
		first, gen uint64
	}
	var expired []cand
	cursor := new(ebpf.MapBatchCursor)
	for {
		n, err := m.objs.Flows.BatchLookup(cursor, k.keys, k.vals, nil)
		for i := range n {
			d := &k.vals[i].D
			if final || (d.BiLastMs <= now && now-d.BiLastMs >= idle) {
				expired = append(expired, cand{k.keys[i], d.Dir[0].FirstMs, d.Gen})
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("sweep flow table: %w", err)
		}
	}
	slices.SortFunc(expired, func(a, b cand) int {
		if a.first != b.first {
			return cmp.Compare(a.first, b.first)
		}
		return cmp.Compare(a.gen, b.gen)
	})
	var st bpfobj.MeterFlowState
	for i := range expired {
		if err := m.objs.Flows.LookupAndDeleteWithFlags(&expired[i].key, &st, ebpf.LookupLock); err != nil {
			continue // ended by a packet meanwhile (FLOW_END carries it)
		}
		k.finish(&expired[i].key, &st.D, 0)
	}
	return nil
}
