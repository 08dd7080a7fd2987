package flows

import "encoding/binary"

// MakeKey builds the key of a flow between endpoints lo and hi, which must
// already be in canonical order (lo sorts first by address, as a big-endian
// 128-bit number, then by port), as the kernel's flow table stores them.
// Addresses are 16 bytes, IPv4 in the first 4. tunnel is one of the Tunnel*
// ids.
func MakeKey(lo, hi [16]byte, loPort, hiPort, vlan uint16, proto, ipVersion, tunnel uint8) Key {
	return Key{
		lo0: binary.BigEndian.Uint64(lo[0:]), lo1: binary.BigEndian.Uint64(lo[8:]),
		hi0: binary.BigEndian.Uint64(hi[0:]), hi1: binary.BigEndian.Uint64(hi[8:]),
		meta: uint64(loPort)<<48 | uint64(hiPort)<<32 | uint64(vlan)<<16 | uint64(proto)<<8 |
			uint64(ipVersion&0xf)<<4 | uint64(tunnel&0xf),
	}
}

// KeyParts are a key's fields, for layouts shared with the kernel.
type KeyParts struct {
	Lo, Hi               [16]byte // network order; IPv4 in the first 4 bytes
	LoPort, HiPort, VLAN uint16
	Protocol, IPVersion  uint8
	Tunnel               uint8
}

// Parts returns k's fields.
func (k Key) Parts() KeyParts {
	var p KeyParts
	binary.BigEndian.PutUint64(p.Lo[0:], k.lo0)
	binary.BigEndian.PutUint64(p.Lo[8:], k.lo1)
	binary.BigEndian.PutUint64(p.Hi[0:], k.hi0)
	binary.BigEndian.PutUint64(p.Hi[8:], k.hi1)
	p.LoPort, p.HiPort, p.VLAN = k.loPort(), k.hiPort(), k.vlan()
	p.Protocol, p.IPVersion, p.Tunnel = k.proto(), k.ipv(), k.tunnel()
	return p
}

// KeyOf returns the key of a decoded packet and whether the packet's sender
// is the key's lo endpoint.
func KeyOf(d *Decoded) (Key, bool) { return keyOf(d) }

// NewFlow returns an empty flow with key k whose first packet was sent by
// the key's lo endpoint when srcIsLo is set. It is for flows counted
// elsewhere (the kernel): the caller fills the counters and statistics, and
// an [Assembler] adds what needs the packets.
func NewFlow(k Key, srcIsLo bool) *Flow {
	return &Flow{key: k, srcLo: srcIsLo}
}

// CopiedPacket is one of the first packets of a flow whose counters are kept
// elsewhere, copied to userspace for classification and SPLT.
type CopiedPacket struct {
	Key    Key
	Gen    uint64 // flow instance: a key that expired and came back is a new flow
	Index  uint64 // packet number in the flow, from 0
	Dir    uint8  // 0 src to dst, 1 dst to src
	TimeMs uint64
	Size   uint32 // in the accounting mode
	L3     []byte // the packet from its IP header, as captured
}

// Assembler completes flows whose counters are kept elsewhere (the kernel's
// flow table): it gives their first packets to nDPI exactly as the meter
// does (same packets, same times, same module for the same key) and records
// their SPLT, then attaches both when the flow ends. It is used by one
// goroutine.
type Assembler struct {
	dis  *dissectors // nil without nDPI
	splt int
	open map[instance]*partial
	// Lost counts the gaps in the copied packets of completed flows (copies
	// the ring buffer had no room for); their SPLT entries stay -1.
	Lost uint64
}

type instance struct {
	k   Key
	gen uint64
}

// partial is what is known of a flow from its copied packets.
type partial struct {
	f     Flow // dpi, App and SPLT; Bidirectional.Packets is the next index
	times []uint64
	seen  uint64
}

// NewAssembler returns an assembler for o's NDissections, DissectorShards
// and SPLTAnalysis.
func NewAssembler(o Options) (*Assembler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	a := &Assembler{splt: o.SPLTAnalysis, open: make(map[instance]*partial)}
	if o.NDissections > 0 {
		if o.NewDissector == nil {
			return nil, &ParamError{"n_dissections", o.NDissections, "0 unless a dissector (nDPI) is configured"}
		}
		ds, err := o.newDissectorShards()
		if err != nil {
			return nil, err
		}
		a.dis = newDissectors(ds, o.NDissections, false)
	}
	return a, nil
}

// newPartial starts the partial flow of key k.
func (a *Assembler) newPartial(k Key) *partial {
	pf := &partial{f: Flow{key: k}}
	if a.splt > 0 {
		pf.f.SPLT = newSPLT(a.splt)
		pf.times = make([]uint64, a.splt)
	}
	if a.dis != nil {
		a.dis.newFlow(&pf.f)
	}
	return pf
}

// Packet takes one copied packet and reports whether the flow still needs
// more (false once nDPI is done and the SPLT is full).
func (a *Assembler) Packet(p *CopiedPacket) bool {
	id := instance{p.Key, p.Gen}
	pf := a.open[id]
	if pf == nil {
		pf = a.newPartial(p.Key)
		a.open[id] = pf
	}
	pf.seen++
	if i := p.Index; i < uint64(a.splt) {
		s := pf.f.SPLT
		s.Direction[i], s.PS[i] = int8(p.Dir), int32(p.Size)
		pf.times[i] = p.TimeMs
		if i == 0 {
			s.PIATms[0] = 0
		} else if s.PS[i-1] >= 0 {
			s.PIATms[i] = int64(p.TimeMs - pf.times[i-1])
		}
		if i+1 < uint64(a.splt) && s.PS[i+1] >= 0 {
			s.PIATms[i+1] = int64(pf.times[i+1] - p.TimeMs)
		}
	}
	if a.dis != nil && pf.f.dpi != nil {
		pf.f.Bidirectional.Packets = p.Index + 1
		var d Decoded
		d.L3Off, d.L3Len = 0, uint16(len(p.L3))
		a.dis.packet(&pf.f, &d, p.TimeMs, p.L3)
	}
	return pf.f.dpi != nil || p.Index+1 < uint64(a.splt)
}

// Complete attaches the classification and SPLT of flow instance gen to f
// and forgets the instance. A flow none of whose packets were copied is
// classified from nothing (nDPI's unknown), as NFStream labels a flow it
// saw no payload of.
func (a *Assembler) Complete(f *Flow, gen uint64) {
	id := instance{f.key, gen}
	pf := a.open[id]
	delete(a.open, id)
	if pf == nil {
		pf = a.newPartial(f.key)
	}
	if a.splt > 0 {
		want := min(f.Bidirectional.Packets, uint64(a.splt))
		if pf.seen < want {
			a.Lost += want - pf.seen
		}
	}
	f.SPLT = pf.f.SPLT
	if a.dis != nil {
		a.dis.finish(&pf.f)
		f.App = pf.f.App
	}
}

// Open returns how many flow instances have copied packets but are not
// complete.
func (a *Assembler) Open() int { return len(a.open) }

// Close releases the classifiers and the state of flows never completed.
func (a *Assembler) Close() error {
	if a.dis == nil {
		return nil
	}
	for id, pf := range a.open {
		a.dis.free(&pf.f)
		delete(a.open, id)
	}
	return a.dis.close()
}
