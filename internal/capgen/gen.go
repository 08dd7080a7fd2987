package capgen

import (
	"fmt"
	"io"
)

// noiseLen is the size of the random block payloads are copied from.
const noiseLen = 4096

// gen builds packets. It holds no per-flow state: flows live in the
// scheduler's slots.
type gen struct {
	pw     *pcapWriter
	r      rng
	scale  float64 // heavy-tail multiplier (see tailScale)
	nextID uint64  // id of the next flow
	us     int64   // timestamp of the packet being built, µs
	noise  []byte  // noiseLen+maxFrameLen random bytes
	qnames [][]byte
	sum    Summary
	touch  uint32 // sink of prefetching loads
}

// Summary describes a written capture.
type Summary struct {
	Packets int64 // frames written
	Bytes   int64 // frame bytes on the wire (record headers excluded)
	Flows   int64 // flows that sent at least one packet
}

func newGen(w io.Writer, seed int64, snap int, mean float64) *gen {
	g := &gen{
		pw:     newPcapWriter(w, snap),
		r:      newRNG(seed),
		scale:  tailScale(mean),
		noise:  make([]byte, noiseLen+maxFrameLen),
		qnames: encodeNames(),
	}
	for i := 0; i < len(g.noise); i += 8 {
		be.PutUint64(g.noise[i:], g.r.next())
	}
	return g
}

// fill copies random-looking bytes into p.
func (g *gen) fill(p []byte) {
	off := int(g.r.next() % noiseLen)
	copy(p, g.noise[off:])
}

// start makes f a new flow planned by s.
func (g *gen) start(f *flow, s spec) {
	r := &g.r
	id := g.nextID
	g.nextID++
	*f = flow{
		id:      id,
		planned: s.packets(),
		kind:    s.kind,
		bits:    s.bits | bitServerPhase, // the first data phase is the client's
		cport:   clientPort(id),
		sport:   s.port,
		cseq:    uint32(r.next()),
		sseq:    uint32(r.next()),
		ts:      uint32(r.next()),
		cipid:   uint16(r.next()),
		sipid:   uint16(r.next()),
		sttl:    uint8(r.between(44, 60)),
	}
	switch s.kind {
	case kindDNS:
		f.server = uint32(id & 1) // two resolvers
	default:
		f.server = uint32(r.pareto(1.1, 1<<20-2)) - 1 // a few popular servers
	}
	if f.sport == 0 {
		switch s.kind {
		case kindDNS:
			f.sport = 53
		case kindQUIC:
			f.sport = 443
		case kindRTP:
			f.sport = uint16(r.between(8192, 16383) * 2)
		}
	}
}

// emit writes the next packet of f with timestamp g.us.
func (g *gen) emit(f *flow) {
	b := g.pw.frame()
	var n int
	switch f.kind {
	case kindTCP, kindTCPRefused:
		n = g.tcp(b, f)
	case kindDNS:
		n = g.dns(b, f)
	case kindQUIC:
		n = g.quic(b, f)
	case kindRTP:
		n = g.rtp(b, f)
	default:
		n = g.icmp(b, f)
	}
	if f.sent == 0 {
		g.sum.Flows++
	}
	f.sent++
	g.sum.Packets++
	g.sum.Bytes += int64(n)
	g.pw.commit(g.us, n)
}

// aheadLen is how many random slots are drawn at once.
const aheadLen = 16

// pickAhead draws the slots of the next packets and touches them together,
// so that their cache misses overlap instead of stalling one packet each
// (the slots of a million flows do not fit in any cache).
func (g *gen) pickAhead(slots []flow, ahead *[aheadLen]int32) {
	for j := range ahead {
		ahead[j] = int32(g.r.intn(len(slots)))
	}
	for _, s := range ahead {
		g.touch += slots[s].sent
	}
}

// Write writes a synthetic capture described by cfg to w: a pcap file
// header and exactly cfg.Packets frames. It streams through a 1 MiB
// buffer, uses memory in proportion to cfg.Concurrent and allocates
// nothing per packet.
func Write(w io.Writer, cfg Config) error {
	_, err := Generate(w, cfg)
	return err
}

// Generate is [Write] that also reports what was written.
func Generate(w io.Writer, cfg Config) (Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, fmt.Errorf("generate capture: %w", err)
	}
	g := newGen(w, cfg.Seed, cfg.SnapLen, cfg.MeanPackets)
	startUs := cfg.StartTime.UnixMicro()
	step := 1e6 / cfg.PPS
	slots := make([]flow, min(cfg.Concurrent, cfg.Packets))
	for i := range slots {
		g.start(&slots[i], g.randomSpec())
	}
	var (
		ahead [aheadLen]int32 // slots of the next packets
		used  = aheadLen
	)
	for i := 0; i < cfg.Packets && g.pw.err == nil; i++ {
		// The first packets open every flow in turn; then flows are
		// picked at random.
		var f *flow
		if i < len(slots) {
			f = &slots[i]
		} else {
			if used == aheadLen {
				g.pickAhead(slots, &ahead)
				used = 0
			}
			f = &slots[ahead[used]]
			used++
		}
		g.us = startUs + int64(float64(i)*step)
		g.emit(f)
		if f.done() {
			g.start(f, g.randomSpec())
		}
	}
	g.pw.flush()
	return g.sum, g.pw.err
}
