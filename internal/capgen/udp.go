package capgen

import "strings"

// dnsNames are the names queried, space-separated. Flows pick one by id.
const dnsNames = "www.example.com api.example.com cdn.example.net mail.example.org " +
	"static.example.com login.example.net img.example.org updates.example.com " +
	"time.example.net push.example.org video.example.com ads.example.net"

// encodeNames returns dnsNames in DNS wire format.
func encodeNames() [][]byte {
	names := strings.Fields(dnsNames)
	out := make([][]byte, len(names))
	for i, name := range names {
		var b []byte
		start := 0
		for j := 0; j <= len(name); j++ {
			if j == len(name) || name[j] == '.' {
				b = append(b, byte(j-start))
				b = append(b, name[start:j]...)
				start = j + 1
			}
		}
		out[i] = append(b, 0)
	}
	return out
}

// dns writes the next packet of a DNS flow: query k/2 (A, then AAAA; the
// other way round over IPv6) or its response, with an EDNS OPT record.
func (g *gen) dns(b []byte, f *flow) int {
	k := f.sent
	fromServer := k&1 == 1
	qtype := uint16(1)
	if (k/2 == 1) != (f.bits&bitV6 != 0) {
		qtype = 28
	}
	name := g.qnames[f.id%uint64(len(g.qnames))]
	n := 12 + len(name) + 4 + 11
	rdlen := 4
	if qtype == 28 {
		rdlen = 16
	}
	if fromServer {
		n += 12 + rdlen
	}
	off, length := udpPacket(b, f, fromServer, n)
	p := b[off:length]
	be.PutUint16(p[0:], uint16(f.cseq)+uint16(k/2)*0x9e37) // transaction id
	flags := uint16(0x0100)                                // RD
	an := uint16(0)
	if fromServer {
		flags, an = 0x8180, 1 // QR, RD, RA
	}
	be.PutUint16(p[2:], flags)
	be.PutUint16(p[4:], 1)
	be.PutUint16(p[6:], an)
	be.PutUint16(p[8:], 0)
	be.PutUint16(p[10:], 1)
	i := 12 + copy(p[12:], name)
	be.PutUint16(p[i:], qtype)
	be.PutUint16(p[i+2:], 1)
	i += 4
	if fromServer {
		be.PutUint16(p[i:], 0xc00c) // pointer to the question name
		be.PutUint16(p[i+2:], qtype)
		be.PutUint16(p[i+4:], 1)
		be.PutUint32(p[i+6:], 300) // TTL
		be.PutUint16(p[i+10:], uint16(rdlen))
		g.fill(p[i+12 : i+12+rdlen])
		i += 12 + rdlen
	}
	// OPT: root name, type 41, UDP size 1232, no flags, no data.
	p[i] = 0
	be.PutUint16(p[i+1:], 41)
	be.PutUint16(p[i+3:], 1232)
	be.PutUint32(p[i+5:], 0)
	be.PutUint16(p[i+9:], 0)
	return length
}

// quic writes the next packet of a QUIC-like stream: client and server
// Initial/Handshake long-header packets, then short-header packets, mostly
// full-sized from the server with a small client ACK every third packet.
func (g *gen) quic(b []byte, f *flow) int {
	k := f.sent
	fromServer := k == 1 || k == 2 || (k > 3 && k%3 != 0)
	n := 1252
	switch {
	case k > 3 && !fromServer:
		n = g.r.between(30, 60)
	case k > 3 && g.r.intn(8) == 0:
		n = g.r.between(60, 1252)
	}
	off, length := udpPacket(b, f, fromServer, n)
	p := b[off:length]
	g.fill(p)
	dcid, scid := uint64(f.cseq)<<32|uint64(f.sseq), f.id*0x9e3779b97f4a7c15
	if fromServer {
		dcid, scid = scid, dcid
	}
	if k <= 3 {
		typ := byte(0) // Initial
		if k >= 2 {
			typ = 2 // Handshake
		}
		p[0] = 0xc3 | typ<<4
		be.PutUint32(p[1:], 1) // version 1
		p[5] = 8
		be.PutUint64(p[6:], dcid)
		p[14] = 8
		be.PutUint64(p[15:], scid)
		return length
	}
	p[0] = 0x40 | p[0]&0x3f
	be.PutUint64(p[1:], dcid)
	return length
}

// rtp writes the next packet of an RTP-like call: 20 ms G.711 frames
// (12-byte header, 160 bytes of audio), alternating directions.
func (g *gen) rtp(b []byte, f *flow) int {
	k := f.sent
	fromServer := k&1 == 1
	off, length := udpPacket(b, f, fromServer, 172)
	p := b[off:length]
	g.fill(p[12:])
	base := f.cseq
	if fromServer {
		base = f.sseq
	}
	p[0], p[1] = 0x80, 0 // version 2, PCMU
	if k < 2 {
		p[1] = 0x80 // marker on the first packet of each side
	}
	be.PutUint16(p[2:], uint16(base)+uint16(k/2))
	be.PutUint32(p[4:], base+uint32(k/2)*160)
	be.PutUint32(p[8:], base*0x01000193)
	return length
}

// icmp writes the next packet of a ping: echo request k/2 or its reply,
// with Linux ping's 56-byte payload, ICMP or ICMPv6 checksum included.
func (g *gen) icmp(b []byte, f *flow) int {
	const n = 8 + 56
	k := f.sent
	fromServer := k&1 == 1
	v6 := f.bits&bitV6 != 0
	proto := uint8(protoICMP)
	typ := byte(8)
	if v6 {
		proto, typ = protoICMPv6, 128
	}
	if fromServer {
		typ = 0
		if v6 {
			typ = 129
		}
	}
	l4 := l3(b, f, fromServer, proto, n)
	m := b[l4 : l4+n]
	m[0], m[1], m[2], m[3] = typ, 0, 0, 0
	be.PutUint16(m[4:], uint16(f.id))
	be.PutUint16(m[6:], uint16(k/2+1))
	be.PutUint64(m[8:], f.id<<16|uint64(k/2))
	for i := 16; i < n; i++ {
		m[i] = byte(i - 8)
	}
	acc := sum(m, 0)
	if v6 {
		ip := b[l4-ipv6Len : l4]
		acc = sum(ip[8:40], acc) + n + protoICMPv6
	}
	be.PutUint16(m[2:], ^fold(acc))
	return l4 + n
}
