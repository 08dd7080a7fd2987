//go:build linux

package kmeter

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

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
// them when final), oldest first. A batch lookup finds the candidates;
// nfm_expire then expires each under the entry's lock, checking again that
// it is the instance seen idle and still idle, so that a packet arriving
// meanwhile is never cut off from its flow.
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
			if k.vals[i].Dead != 0 {
				continue // being expired by another sweep
			}
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
	if k.expire == nil {
		k.expire = make([]byte, expireReqSize)
	}
	req := (*bpfobj.MeterExpireReq)(unsafe.Pointer(&k.expire[0]))
	opts := &ebpf.RunOptions{Data: k.expire, DataOut: k.expire}
	for i := range expired {
		*req = bpfobj.MeterExpireReq{Key: expired[i].key, Gen: expired[i].gen, NowMs: now}
		if final {
			req.Final = 1
		}
		ret, err := m.objs.NfmExpire.Run(opts)
		if err != nil {
			return fmt.Errorf("expire flow: %w", err)
		}
		if ret != xdpPass {
			continue // ended by a packet meanwhile (FLOW_END carries it), or active again
		}
		k.finish(&req.Key, &req.D, 0)
	}
	return nil
}

var expireReqSize = int(unsafe.Sizeof(bpfobj.MeterExpireReq{}))
