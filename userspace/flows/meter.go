package flows

// meter is NFStream's per-meter loop (spec §3): the clamped packet clock,
// the flow cache and the expiration rules. It is single-threaded; parallel
// stages around it never change the order in which it sees packets, so its
// output is the same whatever the number of workers.
type meter struct {
	idleMs, activeMs uint64
	acct             AccountingMode
	stats            bool
	splt             int
	plugins          []Plugin

	table    *table
	tick     uint64
	scanTick uint64
	pkt      Packet

	// emit receives every finished flow in emission order. It returns false
	// to stop metering (max_nflows reached, consumer gone).
	emit    func(*Flow) bool
	stopped bool

	sink uint64 // keeps prefetch loads alive

	dis *dissectors // nil when n_dissections is 0
}

// release frees the classifier state of flows that were never emitted
// (max_nflows, consumer gone).
func (m *meter) release() {
	if m.dis == nil {
		return
	}
	for f := m.table.head; f != nil; f = f.next {
		m.dis.free(f)
	}
}

const idleScanMaxEmit = 1000

func newMeter(o *Options, emit func(*Flow) bool) *meter {
	return &meter{
		idleMs:   o.IdleTimeout * 1000,
		activeMs: o.ActiveTimeout * 1000,
		acct:     o.AccountingMode,
		stats:    o.StatisticalAnalysis,
		splt:     o.SPLTAnalysis,
		plugins:  o.Plugins,
		table:    newTable(1024),
		emit:     emit,
	}
}

// clamp applies the per-meter monotonic clock to a packet time.
func (m *meter) clamp(t uint64) uint64 {
	if t > m.tick {
		m.tick = t
	}
	return m.tick
}

// keyedPacket is a decoded packet with its flow key and table hash computed, so
// that the work can happen before the metering goroutine sees it.
type keyedPacket struct {
	d       Decoded
	k       Key
	h       uint64
	t       uint64 // unclamped time, ms
	srcIsLo bool
}

// keyed computes the key and hash of kp.d, decoded in place.
func (kp *keyedPacket) keyed(t uint64) {
	kp.k, kp.srcIsLo = keyOf(&kp.d)
	kp.h = kp.k.tableHash()
	kp.t = t
}

// prefetch touches the table slots and flows that a run of packets will
// use. The loads are independent, so their cache misses overlap instead of
// stalling the metering loop one by one (memory-level parallelism); this is
// what keeps a table of millions of flows fast.
func (m *meter) prefetch(kps []keyedPacket) {
	var sink uint64
	slots, mask := m.table.slots, m.table.mask
	for i := range kps {
		sink += slots[kps[i].h&mask].hash
	}
	for i := range kps {
		if f := slots[kps[i].h&mask].f; f != nil {
			// Every cache line of the key and the counters (the object
			// is not line-aligned).
			sink += f.key.lo0 + f.key.meta + f.Bidirectional.Bytes + f.Dst2Src.FirstSeenMs + f.Dst2Src.Bytes
		}
	}
	if m.stats {
		for i := range kps {
			if f := slots[kps[i].h&mask].f; f != nil && f.Stats != nil {
				st := f.Stats
				sink += st.Bi.Syn + st.Bi.Fin + st.S2D.Syn + st.S2D.Fin + st.D2S.Syn + st.D2S.Fin
			}
		}
	}
	m.sink += sink
}

func (m *meter) processKeyed(kp *keyedPacket, frame []byte) {
	if m.stopped {
		return
	}
	t := m.clamp(kp.t)
	doScan := m.tick-m.scanTick >= 10
	if doScan {
		m.scanTick = m.tick
	}
	m.consume(kp, t, frame)
	if doScan {
		m.idleScan()
	}
}

func (m *meter) consume(kp *keyedPacket, t uint64, frame []byte) {
	d, k, h, srcIsLo := &kp.d, &kp.k, kp.h, kp.srcIsLo
	f := m.table.get(h, k)
	if f == nil {
		f = m.create(d, k, h, srcIsLo, t, frame)
		if f.ExpirationID == -1 {
			m.emitFlow(f)
			return
		}
		m.table.insert(f)
		return
	}
	if r := m.expired(f, t); r >= 0 {
		f.ExpirationID = r
		m.table.remove(f)
		m.emitFlow(f)
		nf := m.create(d, k, h, srcIsLo, t, frame)
		if nf.ExpirationID == -1 {
			m.emitFlow(nf)
			return
		}
		m.table.insert(nf)
		return
	}
	var dir uint8
	if srcIsLo != f.srcLo {
		dir = 1
	}
	delta := m.update(f, d, t, dir)
	if f.dpi != nil {
		m.dis.packet(f, d, t, frame)
	}
	if len(m.plugins) > 0 {
		m.fillPacket(f, d, t, delta, dir, frame)
		for _, p := range m.plugins {
			p.OnUpdate(&m.pkt, f)
		}
		if f.ExpirationID == -1 {
			m.table.remove(f)
			m.emitFlow(f)
		}
	}
}

// expired returns 0 (idle) or 1 (active) when a packet at time t finds f
// expired, -1 otherwise.
func (m *meter) expired(f *Flow, t uint64) int64 {
	switch {
	case t-f.Bidirectional.LastSeenMs >= m.idleMs:
		return 0
	case t-f.Bidirectional.FirstSeenMs >= m.activeMs:
		return 1
	}
	return -1
}

func (m *meter) create(d *Decoded, k *Key, h uint64, srcIsLo bool, t uint64, frame []byte) *Flow {
	size := d.Size(m.acct)
	f := &Flow{key: *k, srcLo: srcIsLo, hash: h, SrcMAC: d.SrcMAC, DstMAC: d.DstMAC}
	f.Bidirectional = Dir{FirstSeenMs: t, LastSeenMs: t, Packets: 1, Bytes: uint64(size)}
	f.Src2Dst = f.Bidirectional
	if m.stats {
		f.Stats = &Stats{}
		f.Stats.Bi.psInit(size)
		f.Stats.S2D.psInit(size)
		f.Stats.Bi.addFlags(d.Flags)
		f.Stats.S2D.addFlags(d.Flags)
	}
	if m.splt > 0 {
		s := newSPLT(m.splt)
		s.Direction[0], s.PS[0], s.PIATms[0] = 0, int32(size), 0
		f.SPLT = s
	}
	if m.dis != nil {
		m.dis.newFlow(f)
		m.dis.packet(f, d, t, frame)
	}
	if len(m.plugins) > 0 {
		m.fillPacket(f, d, t, 0, 0, frame)
		for _, p := range m.plugins {
			p.OnInit(&m.pkt, f)
		}
	}
	return f
}

// update counts a packet of an existing flow (spec §5.3) and returns its
// delta time.
func (m *meter) update(f *Flow, d *Decoded, t uint64, dir uint8) uint64 {
	size := d.Size(m.acct)
	bi := &f.Bidirectional
	piat := t - bi.LastSeenMs
	bi.Packets++
	if s := f.SPLT; s != nil && bi.Packets-1 < uint64(m.splt) {
		i := bi.Packets - 1
		s.Direction[i], s.PS[i], s.PIATms[i] = int8(dir), int32(size), int64(piat)
	}
	bi.LastSeenMs = t
	bi.Bytes += uint64(size)
	st := f.Stats
	if st != nil {
		st.Bi.addFlags(d.Flags)
		st.Bi.psUpdate(size, bi.Packets)
		if bi.Packets == 2 {
			st.Bi.piatInit(piat)
		} else {
			st.Bi.piatUpdate(piat, bi.Packets-1)
		}
	}
	if dir == 0 {
		s := &f.Src2Dst
		s.Packets++
		p := t - s.LastSeenMs
		s.LastSeenMs = t
		s.Bytes += uint64(size)
		if st != nil {
			st.S2D.psUpdate(size, s.Packets)
			st.S2D.addFlags(d.Flags)
			if s.Packets == 2 {
				st.S2D.piatInit(p)
			} else {
				st.S2D.piatUpdate(p, s.Packets-1)
			}
		}
		return piat
	}
	s := &f.Dst2Src
	s.Packets++
	s.Bytes += uint64(size)
	if s.Packets == 1 {
		s.FirstSeenMs, s.LastSeenMs = t, t
		if st != nil {
			st.D2S.psInit(size)
			st.D2S.addFlags(d.Flags)
		}
		return piat
	}
	p := t - s.LastSeenMs
	s.LastSeenMs = t
	if st != nil {
		st.D2S.psUpdate(size, s.Packets)
		st.D2S.addFlags(d.Flags)
		if s.Packets == 2 {
			st.D2S.piatInit(p)
		} else {
			st.D2S.piatUpdate(p, s.Packets-1)
		}
	}
	return piat
}

func (m *meter) fillPacket(f *Flow, d *Decoded, t, delta uint64, dir uint8, frame []byte) {
	p := &m.pkt
	src, dst := f.SrcAddr(), f.DstAddr()
	smac, dmac := f.SrcMAC, f.DstMAC
	sport, dport := f.SrcPort(), f.DstPort()
	if dir == 1 {
		src, dst, smac, dmac, sport, dport = dst, src, dmac, smac, dport, sport
	}
	var ip []byte
	if end := int(d.L3Off) + int(d.L3Len); d.L3Off >= 0 && end <= len(frame) {
		ip = frame[d.L3Off:end]
	}
	*p = Packet{
		TimeMs: t, DeltaTimeMs: delta, Direction: dir,
		RawSize: d.RawSize, IPSize: d.IPSize, TransportSize: d.TransportSize, PayloadSize: d.PayloadSize,
		SrcIP: src, DstIP: dst, SrcMAC: smac, DstMAC: dmac, SrcPort: sport, DstPort: dport,
		Protocol: d.Protocol, VLANID: d.VLANID, IPVersion: d.IPVersion, TunnelID: d.TunnelID,
		TCPFlags: d.Flags, IPPacket: ip,
	}
}

// idleScan emits idle flows from the oldest end of the creation order,
// stopping at the first one that is not idle (spec §3.3).
func (m *meter) idleScan() {
	for n := 0; n < idleScanMaxEmit && !m.stopped; n++ {
		f := m.table.head
		if f == nil || m.tick-f.Bidirectional.LastSeenMs < m.idleMs {
			return
		}
		m.table.remove(f)
		m.emitFlow(f)
	}
}

// advance moves the clock to t without a packet (a live source was idle)
// and expires every idle flow, not only the first idleScanMaxEmit.
func (m *meter) advance(t uint64) {
	m.clamp(t)
	if m.tick-m.scanTick < 10 {
		return
	}
	m.scanTick = m.tick
	for !m.stopped {
		f := m.table.head
		if f == nil || m.tick-f.Bidirectional.LastSeenMs < m.idleMs {
			break
		}
		m.table.remove(f)
		m.emitFlow(f)
	}
	m.deliverReady(false)
}

// flush emits every cached flow in creation order (end of capture). The
// table is dropped as a whole instead of flow by flow.
func (m *meter) flush() {
	f := m.table.head
	m.table = newTable(0)
	for f != nil {
		next := f.next
		f.next, f.prev = nil, nil
		m.emitFlow(f) // frees the classifier state once stopped
		f = next
	}
}

func (m *meter) emitFlow(f *Flow) {
	if m.stopped {
		if m.dis != nil {
			m.dis.free(f)
		}
		return
	}
	if m.dis != nil {
		m.dis.finish(f)
		if m.dis.async {
			return // delivered by deliverReady once classified
		}
	}
	m.deliver(f)
}

// deliverReady passes on the flows whose classification is complete (all
// of them, waiting, when wait is set).
func (m *meter) deliverReady(wait bool) {
	if m.dis != nil && m.dis.async {
		m.dis.ready(wait, m.deliver)
	}
}

// deliver runs the plugins' OnExpire and hands f to the consumer.
func (m *meter) deliver(f *Flow) {
	if m.stopped {
		return
	}
	for _, p := range m.plugins {
		p.OnExpire(f)
	}
	if !m.emit(f) {
		m.stopped = true
	}
}
