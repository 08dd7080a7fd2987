//go:build linux

package kmeter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// kernelLoop reads the ring buffer, sweeps idle flows and, once ctx is
// done, detaches and flushes. Flows are completed by one assembler per
// nDPI shard (--ndpi-shards): on this goroutine when there is one, else
// each on its own goroutine, flows going to shard key-hash mod n, as the
// offline meter spreads them over its nDPI modules.
func (m *Meter) kernelLoop(ctx context.Context, out chan<- *flows.Flow, punt chan<- puntFrame) (err error) {
	defer close(punt)
	o := m.opts.Flow
	o.DissectorShards = 1
	n := 1 // shards exist for nDPI's sake only
	if o.NDissections > 0 {
		n = m.opts.Flow.DissectorShards
	}
	var shards []*asmShard
	for range n {
		asm, err := flows.NewAssembler(o)
		if err != nil {
			for _, sh := range shards {
				sh.asm.Close()
			}
			return err
		}
		shards = append(shards, &asmShard{m: m, asm: asm, out: out, done: make(map[flows.Key]uint64)})
	}
	var wg sync.WaitGroup
	if len(shards) > 1 {
		for _, sh := range shards {
			sh.in = make(chan asmItem, 1024)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for it := range sh.in {
					sh.handle(&it)
				}
			}()
		}
	}
	defer func() {
		for _, sh := range shards {
			if sh.in != nil {
				close(sh.in)
			}
		}
		wg.Wait()
		for _, sh := range shards {
			// Copied packets of flows that never reached the table are
			// dropped with the assembler.
			m.user.orphans.Add(uint64(sh.asm.Open()))
			if cerr := sh.asm.Close(); err == nil {
				err = cerr
			}
		}
	}()
	rd, err := ringbuf.NewReader(m.objs.Events)
	if err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	defer rd.Close()
	k := &kernelSide{m: m, shards: shards, punt: punt}
	sweepEvery := m.sweepInterval()
	nextSweep := time.Now().Add(sweepEvery)
	var rec ringbuf.Record
	for {
		if ctx.Err() != nil {
			break
		}
		// Wake at least every 50 ms to notice cancellation.
		wake := time.Now().Add(50 * time.Millisecond)
		if nextSweep.Before(wake) {
			wake = nextSweep
		}
		rd.SetDeadline(wake)
		switch err := rd.ReadInto(&rec); {
		case err == nil:
			k.record(rec.RawSample)
			if time.Now().Before(nextSweep) {
				continue
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Now().Before(nextSweep) {
				continue
			}
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
		if err := k.sweep(false); err != nil {
			return err
		}
		nextSweep = time.Now().Add(sweepEvery)
	}
	// Stop: no new packets, then everything the kernel still holds.
	if err := m.Detach(); err != nil {
		m.log.Warn("detach", "err", err)
	}
	for {
		rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
		if err := rd.ReadInto(&rec); err != nil {
			break
		}
		k.record(rec.RawSample)
	}
	return k.sweep(true)
}

// kernelSide turns ring buffer records and map entries into flows.
type kernelSide struct {
	m      *Meter
	shards []*asmShard
	punt   chan<- puntFrame

	keys   []bpfobj.MeterFlowKey
	vals   []bpfobj.MeterFlowState
	apply  []byte
	expire []byte // an expire_req, 8-byte aligned
	tagged []byte
}

func keyOf(k *bpfobj.MeterFlowKey) flows.Key {
	return flows.MakeKey(k.LoAddr, k.HiAddr, k.LoPort, k.HiPort, k.VlanId, k.Protocol, k.IpVersion, k.TunnelId)
}

var (
	packetHdrSize    = int(unsafe.Sizeof(bpfobj.MeterPacketHdr{}))
	flowEndEventSize = int(unsafe.Sizeof(bpfobj.MeterFlowEndEvent{}))
)

func (k *kernelSide) record(raw []byte) {
	k.m.user.records.Add(1)
	if len(raw) < 4 {
		return
	}
	switch bpfobj.MeterEventType(uint32(raw[0]) | uint32(raw[1])<<8 | uint32(raw[2])<<16 | uint32(raw[3])<<24) {
	case bpfobj.MeterEventTypeEVENT_PACKET, bpfobj.MeterEventTypeEVENT_PUNT:
		if len(raw) < packetHdrSize {
			return
		}
		h := (*bpfobj.MeterPacketHdr)(unsafe.Pointer(&raw[0]))
		frame := raw[packetHdrSize:]
		frame = frame[:min(int(h.CapLen), len(frame))]
		if h.Type == uint32(bpfobj.MeterEventTypeEVENT_PACKET) {
			k.packet(h, frame)
		} else {
			k.punted(h, frame)
		}
	case bpfobj.MeterEventTypeEVENT_FLOW_END:
		if len(raw) < flowEndEventSize {
			return
		}
		ev := (*bpfobj.MeterFlowEndEvent)(unsafe.Pointer(&raw[0]))
		k.finish(&ev.Key, &ev.D, int64(ev.Reason))
	}
}

// packet hands one of a flow's first packets to its shard.
func (k *kernelSide) packet(ev *bpfobj.MeterPacketHdr, frame []byte) {
	key := keyOf(&ev.Key)
	var l3 []byte
	if off := int(ev.L3Off); off <= len(frame) {
		l3 = frame[off:]
	}
	it := asmItem{
		kkey: ev.Key,
		cp:   flows.CopiedPacket{Key: key, Gen: ev.Gen, Index: uint64(ev.Index), Dir: ev.Dir, TimeMs: ev.TsMs, Size: ev.Size, L3: l3},
	}
	k.dispatch(&it)
}

// finish completes a flow the kernel no longer holds.
func (k *kernelSide) finish(key *bpfobj.MeterFlowKey, d *bpfobj.MeterFlowData, reason int64) {
	it := asmItem{kkey: *key, end: k.m.flowOf(key, d, reason), gen: d.Gen}
	it.cp.Key = it.end.Key()
	k.dispatch(&it)
}
