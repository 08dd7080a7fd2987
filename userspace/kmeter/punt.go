//go:build linux

package kmeter

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// puntFrame is a frame the kernel left to the userspace decoder.
type puntFrame struct {
	tsMs    uint64
	wireLen uint32
	data    []byte
}

// punted decodes a frame the kernel parser left to userspace (or one whose
// flow's entry was being expired), with the offline decoder, and applies it
// to the kernel flow table through nfm_apply, so that its flow is the same
// as its siblings'. Frames of flows that do not fit in the table are
// metered by the userspace engine.
func (k *kernelSide) punted(ev *bpfobj.MeterPacketHdr, frame []byte) {
	if ev.HwVlan != 0 && len(frame) >= 12 {
		// Put back the 802.1Q tag the driver moved out of the frame.
		k.tagged = append(append(k.tagged[:0], frame[:12]...), 0x81, 0x00, byte(ev.HwVlan>>8)&0x0f, byte(ev.HwVlan))
		k.tagged = append(k.tagged, frame[12:]...)
		frame = k.tagged
	}
	n := len(frame)
	if ev.Reason != uint8(bpfobj.MeterPuntReasonPUNT_MAP_FULL) {
		var d flows.Decoded
		if !flows.Decode(&d, frame, flows.DLTEthernet, ev.WireLen, k.m.opts.Flow.DecodeTunnels) {
			k.m.user.puntIgnored.Add(1)
			return
		}
		key, srcIsLo := flows.KeyOf(&d)
		p := key.Parts()
		req := bpfobj.MeterApplyReq{
			Key: bpfobj.MeterFlowKey{
				LoAddr: p.Lo, HiAddr: p.Hi, LoPort: p.LoPort, HiPort: p.HiPort, VlanId: p.VLAN,
				Protocol: p.Protocol, IpVersion: p.IPVersion, TunnelId: p.Tunnel,
			},
			TsMs: ev.TsMs, WireLen: ev.WireLen, CapLen: uint16(n), L3Off: uint16(d.L3Off),
			Size: d.Size(k.m.opts.Flow.AccountingMode), TcpFlags: d.Flags, SrcMac: d.SrcMAC, DstMac: d.DstMAC,
		}
		if srcIsLo {
			req.SrcIsLo = 1
		}
		k.apply = append(k.apply[:0], unsafe.Slice((*byte)(unsafe.Pointer(&req)), applyReqSize)...)
		k.apply = append(k.apply, frame...)
		ret, err := k.m.objs.NfmApply.Run(&ebpf.RunOptions{Data: k.apply})
		// XDP_TX: the flow's entry was being expired; its deletion is
		// a few instructions away.
		for i := 0; err == nil && ret == xdpTx && i < 8; i++ {
			runtime.Gosched()
			ret, err = k.m.objs.NfmApply.Run(&ebpf.RunOptions{Data: k.apply})
		}
		if err == nil && ret == xdpPass {
			return
		}
		if err != nil || ret != xdpDrop {
			k.m.user.applyFailed.Add(1)
			k.m.log.Warn("apply punted packet", "err", err, "verdict", ret)
		}
	}
	// The flow table is full: the userspace engine meters it.
	k.punt <- puntFrame{tsMs: ev.TsMs, wireLen: ev.WireLen, data: append([]byte(nil), frame...)}
}

const (
	xdpDrop = 1
	xdpPass = 2
	xdpTx   = 3
)

var applyReqSize = int(unsafe.Sizeof(bpfobj.MeterApplyReq{}))

// puntLoop meters punted frames with the userspace engine.
func (m *Meter) puntLoop(in <-chan puntFrame, out chan<- *flows.Flow) error {
	o := m.opts.Flow
	o.NMeters = 1
	o.MaxNFlows = 0
	src := &puntSource{in: in, clock: m.clock, poll: m.sweepInterval()}
	st, err := flows.NewStreamer(src, o)
	if err != nil {
		for range in {
		}
		return err
	}
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			for range in {
			}
			return fmt.Errorf("userspace engine: %w", err)
		}
		m.user.puntFlows.Add(1)
		out <- f
	}
	return nil
}

// puntSource is the userspace engine's source: punted frames, and ErrIdle
// ticks when none come.
type puntSource struct {
	in    <-chan puntFrame
	clock clock
	poll  time.Duration
	timer *time.Timer
}

func (s *puntSource) Next(p *flows.Frame) error {
	if s.timer == nil {
		s.timer = time.NewTimer(s.poll)
	} else {
		s.timer.Reset(s.poll)
	}
	select {
	case fr, ok := <-s.in:
		if !ok {
			return io.EOF
		}
		*p = flows.Frame{
			Sec: int64(fr.tsMs / 1000), Usec: int64(fr.tsMs%1000) * 1000,
			CapLen: uint32(len(fr.data)), WireLen: fr.wireLen, LinkType: flows.DLTEthernet, Data: fr.data,
		}
		return nil
	case <-s.timer.C:
		return flows.Idle(p, time.UnixMilli(int64(s.clock.nowMs())))
	}
}
