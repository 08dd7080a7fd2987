//go:build linux

package kmeter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Meter is a loaded kernel path. Attach it, then iterate [Meter.Flows]
// once; Close releases everything.
type Meter struct {
	opts  Options
	objs  *bpfobj.MeterObjects
	clock clock
	log   *slog.Logger

	mu       sync.Mutex
	attached []detacher
	att      Attachment

	user userCounters
}

// userCounters are the userspace side of [Counters].
type userCounters struct {
	records, flows, kernelFlows, puntFlows, spltGaps, orphans atomic.Uint64
	puntIgnored, applyFailed                                  atomic.Uint64
}

// New loads the programs and maps for o, with zero sizes replaced by their
// defaults. It refuses options out of range ([Options.Validate]) and those
// the kernel path cannot run ([Supports]). It needs CAP_BPF (or root).
func New(o Options) (*Meter, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := Supports(&o.Flow); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := newClock()
	objs, err := load(&o, c)
	if err != nil {
		return nil, err
	}
	return &Meter{opts: o, objs: objs, clock: c, log: log}, nil
}

// AttachOptions select fallbacks explicitly (tests use them to exercise
// the paths a kernel would pick only when it lacks a feature).
type AttachOptions struct {
	GenericXDP bool // skip native XDP
	Clsact     bool // use clsact filters even where TCX exists
}

// Attach attaches the programs to interface ifname with hook h. Links are
// used wherever the kernel has them, so that nothing stays attached when
// the process dies.
func (m *Meter) Attach(ifname string, h Hook, ao AttachOptions) (Attachment, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return Attachment{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	if b, err := os.ReadFile("/sys/class/net/" + ifname + "/type"); err == nil {
		// ARPHRD_ETHER and ARPHRD_LOOPBACK frames start with an Ethernet
		// header; the programs parse nothing else.
		if t := strings.TrimSpace(string(b)); t != "1" && t != "772" {
			return Attachment{}, fmt.Errorf("interface %s: link type %s is not Ethernet: use AF_PACKET capture", ifname, t)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	att := Attachment{Interface: ifname, Hook: h}
	var ds []detacher
	fail := func(err error) (Attachment, error) {
		for _, d := range slices.Backward(ds) {
			_ = d.Close()
		}
		return Attachment{}, err
	}
	haveQdisc := false
	if h == HookXDP {
		d, mode, err := attachXDP(m.objs.NfmXdp, iface, ao.GenericXDP)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
		att.XDPMode = mode
	} else {
		d, kind, err := attachTC(m.objs.NfmTc, iface, false, ao.Clsact, &haveQdisc)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
		att.TC = kind
	}
	d, kind, err := attachTC(m.objs.NfmTc, iface, true, ao.Clsact, &haveQdisc)
	if err != nil {
		return fail(err)
	}
	ds = append(ds, d)
	att.TC = kind
	m.attached = append(m.attached, ds...)
	m.att = att
	m.log.Debug("kernel path attached", "attachment", att.String())
	return att, nil
}

// Detach removes every attachment; packets are no longer seen.
func (m *Meter) Detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, d := range slices.Backward(m.attached) {
		if err := d.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	m.attached = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach from %s: %w", m.att.Interface, err)
	}
	return nil
}

// Close detaches and releases the programs and maps.
func (m *Meter) Close() error {
	err := m.Detach()
	if cerr := m.objs.Close(); err == nil {
		err = cerr
	}
	return err
}

// Counters are the kernel path's totals. Every frame the programs saw is in
// exactly one of Metered, Ignored and Punted; every loss has its counter.
type Counters struct {
	Seen         uint64 // frames the programs ran on
	Metered      uint64 // counted in the kernel flow table
	Ignored      uint64 // not metered by NFStream's rules (not IP, truncated, fragment)
	Punted       uint64 // handed to the userspace decoder (unusual encapsulation, table full)
	Applied      uint64 // punted packets decoded in userspace and counted in the kernel table
	MapFull      uint64 // packets whose new flow did not fit in the table (metered in userspace)
	PacketLost   uint64 // first-packet copies the ring buffer had no room for
	PuntLost     uint64 // punted frames the ring buffer had no room for: not metered
	FlowEndLost  uint64 // flows ended in the kernel the ring buffer had no room for: lost
	PacketCopied uint64 // first-packet copies sent
	FlowsCreated uint64 // kernel flow entries created

	Records     uint64 // ring buffer records read
	Flows       uint64 // flows yielded
	KernelFlows uint64 // of which counted in the kernel
	PuntFlows   uint64 // of which metered in userspace
	SPLTGaps    uint64 // SPLT entries missing because their copy was lost
	Orphans     uint64 // flows with copied packets that never reached the table
	PuntIgnored uint64 // punted frames the userspace decoder ignores (NFStream's rules)
	ApplyFailed uint64 // punted frames nfm_apply refused (then metered in userspace)
}

// Lost is the number of frames that were not metered at all.
func (c *Counters) Lost() uint64 { return c.PuntLost }

// Counters reads the kernel counters (summed over CPUs) and the userspace
// ones.
func (m *Meter) Counters() (Counters, error) {
	var c Counters
	fields := []*uint64{
		&c.Metered, &c.Ignored, &c.Punted, &c.MapFull,
		&c.PacketLost, &c.PuntLost, &c.FlowEndLost, &c.PacketCopied, &c.FlowsCreated, &c.Applied,
	}
	var per []uint64
	for i, f := range fields {
		if err := m.objs.Counters.Lookup(uint32(i), &per); err != nil {
			return c, fmt.Errorf("read counter %d: %w", i, err)
		}
		for _, v := range per {
			*f += v
		}
	}
	// The programs do not count frames seen (one increment less per
	// packet): every frame is metered, ignored or punted.
	c.Seen = c.Metered + c.Ignored + c.Punted
	c.Records = m.user.records.Load()
	c.Flows = m.user.flows.Load()
	c.KernelFlows = m.user.kernelFlows.Load()
	c.PuntFlows = m.user.puntFlows.Load()
	c.SPLTGaps = m.user.spltGaps.Load()
	c.Orphans = m.user.orphans.Load()
	c.PuntIgnored = m.user.puntIgnored.Load()
	c.ApplyFailed = m.user.applyFailed.Load()
	return c, nil
}

// Flows meters until ctx is cancelled, yielding every finished flow with
// ids 0, 1, 2, ... On cancellation it detaches, drains the ring buffer and
// yields every flow still in the kernel table and in the userspace engine
// (expiration id 0), then returns without error. Iterate once.
func (m *Meter) Flows(ctx context.Context) iter.Seq2[*flows.Flow, error] {
	return func(yield func(*flows.Flow, error) bool) {
		inner, cancel := context.WithCancel(ctx)
		defer cancel()
		out := make(chan *flows.Flow, 1024)
		errc := make(chan error, 2)
		puntCh := make(chan puntFrame, 4096)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errc <- m.kernelLoop(inner, out, puntCh)
		}()
		go func() {
			defer wg.Done()
			errc <- m.puntLoop(puntCh, out)
		}()
		go func() {
			wg.Wait()
			close(out)
		}()
		var id uint64
		stopped := false
		for f := range out {
			if stopped {
				continue
			}
			f.ID = id
			id++
			m.user.flows.Add(1)
			if !yield(f, nil) || (m.opts.Flow.MaxNFlows > 0 && id >= m.opts.Flow.MaxNFlows) {
				stopped = true
				cancel()
			}
		}
		var errs []error
		for range 2 {
			if err := <-errc; err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil && !stopped {
			yield(nil, err)
		}
	}
}

// puntFrame is a frame the kernel left to the userspace decoder.
type puntFrame struct {
	tsMs    uint64
	wireLen uint32
	data    []byte
}

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

func (m *Meter) sweepInterval() time.Duration {
	if m.opts.SweepInterval > 0 {
		return m.opts.SweepInterval
	}
	d := time.Duration(m.opts.Flow.IdleTimeout) * time.Second / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

// kernelSide turns ring buffer records and map entries into flows.
type kernelSide struct {
	m      *Meter
	shards []*asmShard
	punt   chan<- puntFrame

	keys   []bpfobj.MeterFlowKey
	vals   []bpfobj.MeterFlowState
	apply  []byte
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

// punted decodes a frame the kernel parser left to userspace, with the
// offline decoder, and applies it to the kernel flow table through
// nfm_apply, so that its flow is the same as its siblings'. Frames of flows
// that do not fit in the table are metered by the userspace engine.
func (k *kernelSide) punted(ev *bpfobj.MeterPacketHdr, frame []byte) {
	if ev.HwVlan != 0 && len(frame) >= 12 {
		// Put back the 802.1Q tag the driver moved out of the frame.
		k.tagged = append(append(k.tagged[:0], frame[:12]...), 0x81, 0x00, byte(ev.HwVlan>>8)&0x0f, byte(ev.HwVlan))
		k.tagged = append(k.tagged, frame[12:]...)
		frame = k.tagged
	}
	n := len(frame)
	if ev.Reason == uint8(bpfobj.MeterPuntReasonPUNT_PARSE) {
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
)

var applyReqSize = int(unsafe.Sizeof(bpfobj.MeterApplyReq{}))

// shard returns the assembler of key.
func (k *kernelSide) shard(key flows.Key) *asmShard {
	if len(k.shards) == 1 {
		return k.shards[0]
	}
	return k.shards[key.Hash()%uint64(len(k.shards))]
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

// dispatch runs it on its shard: here with one shard, else on the shard's
// goroutine (with its own copy of the packet bytes, which the ring reader
// reuses).
func (k *kernelSide) dispatch(it *asmItem) {
	sh := k.shard(it.cp.Key)
	if sh.in == nil {
		sh.handle(it)
		return
	}
	if it.end == nil {
		it.cp.L3 = append([]byte(nil), it.cp.L3...)
	}
	sh.in <- *it
}

// asmItem is a copied packet (end nil) or a flow to complete.
type asmItem struct {
	kkey bpfobj.MeterFlowKey
	cp   flows.CopiedPacket
	end  *flows.Flow
	gen  uint64
}

// asmShard completes the flows of one nDPI shard.
type asmShard struct {
	m    *Meter
	asm  *flows.Assembler
	out  chan<- *flows.Flow
	in   chan asmItem         // nil: run on the reader's goroutine
	done map[flows.Key]uint64 // flows marked done in the kernel, by gen
}

func (sh *asmShard) handle(it *asmItem) {
	m := sh.m
	if it.end == nil {
		if !sh.asm.Packet(&it.cp) {
			if g, ok := sh.done[it.cp.Key]; !ok || g != it.cp.Gen {
				if err := m.objs.DoneFlows.Update(&it.kkey, it.cp.Gen, ebpf.UpdateAny); err == nil {
					sh.done[it.cp.Key] = it.cp.Gen
				}
			}
		}
		return
	}
	f := it.end
	if g, ok := sh.done[f.Key()]; ok && g == it.gen {
		delete(sh.done, f.Key())
		_ = m.objs.DoneFlows.Delete(&it.kkey)
	}
	before := sh.asm.Lost
	sh.asm.Complete(f, it.gen)
	m.user.spltGaps.Add(sh.asm.Lost - before)
	m.user.kernelFlows.Add(1)
	sh.out <- f
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

func (s *puntSource) Next(p *pcapreplay.Packet) error {
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
		*p = pcapreplay.Packet{
			Sec: int64(fr.tsMs / 1000), Usec: int64(fr.tsMs%1000) * 1000,
			CapLen: uint32(len(fr.data)), WireLen: fr.wireLen, LinkType: flows.DLTEthernet, Data: fr.data,
		}
		return nil
	case <-s.timer.C:
		return flows.Idle(p, time.UnixMilli(int64(s.clock.nowMs())))
	}
}
