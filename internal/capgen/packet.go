package capgen

import "encoding/binary"

// Header sizes and protocol numbers.
const (
	etherLen    = 14
	vlanLen     = 4
	ipv4Len     = 20
	ipv6Len     = 40
	udpLen      = 8
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

var be = binary.BigEndian

// gatewayMAC is the MAC address of the router every flow goes through.
func putGatewayMAC(b []byte) { copy(b, []byte{0x02, 0x00, 0x5e, 0x00, 0x01, 0x01}) }

// putClientMAC writes a locally administered MAC derived from the host.
func putClientMAC(b []byte, f *flow) {
	h := f.host()
	b[0], b[1], b[2], b[3], b[4], b[5] = 0x02, 0x00, 0x0a, byte(h>>16), byte(h>>8), byte(h)
}

// putClientAddr writes f's client address at b (4 bytes for IPv4, 16 for
// IPv6).
func putClientAddr(b []byte, f *flow) {
	if f.bits&bitV6 == 0 {
		if f.kind == kindICMP {
			be.PutUint32(b, 0x64400000|uint32(f.id&0x3fffff)) // 100.64.0.0/10
			return
		}
		be.PutUint32(b, 0x0a000000+f.host()+1) // 10.0.0.0/8
		return
	}
	be.PutUint64(b, 0xfd00_0000_0000_0001) // fd00:0:0:1::/64
	iid := uint64(f.host()) + 1
	if f.kind == kindICMP {
		b[7] = 3 // fd00:0:0:3::/64
		iid = f.id + 1
	}
	be.PutUint64(b[8:], iid)
}

// putServerAddr writes f's server address at b.
func putServerAddr(b []byte, f *flow) {
	if f.bits&bitV6 == 0 {
		switch f.kind {
		case kindICMP:
			be.PutUint32(b, 0xc6120001+uint32(f.id>>22&0xffff)) // 198.18.0.0/15
		case kindDNS:
			be.PutUint32(b, 0xac1fff35+f.server) // 172.31.255.53
		default:
			be.PutUint32(b, 0xac100001+f.server) // 172.16.0.0/12
		}
		return
	}
	if f.kind == kindDNS {
		be.PutUint64(b, 0xfd00_0000_0000_0053) // fd00:0:0:53::/64
	} else {
		be.PutUint64(b, 0xfd00_0000_0000_0002) // fd00:0:0:2::/64
	}
	be.PutUint64(b[8:], uint64(f.server)+1)
}

// l3 writes the Ethernet header (with an 802.1Q tag for VLAN flows) and
// the IP header of a packet of f carrying an l4len-byte segment of proto,
// sent by the server when fromServer is set. It returns the offset of the
// L4 header.
func l3(b []byte, f *flow, fromServer bool, proto uint8, l4len int) int {
	if fromServer {
		putClientMAC(b[0:6], f)
		putGatewayMAC(b[6:12])
	} else {
		putGatewayMAC(b[0:6])
		putClientMAC(b[6:12], f)
	}
	off := 12
	if f.bits&bitVLAN != 0 {
		be.PutUint16(b[off:], 0x8100)
		be.PutUint16(b[off+2:], uint16(100+f.id%4))
		off += vlanLen
	}
	if f.bits&bitV6 == 0 {
		be.PutUint16(b[off:], 0x0800)
		off += 2
		ip := b[off : off+ipv4Len]
		ip[0], ip[1] = 0x45, 0
		be.PutUint16(ip[2:], uint16(ipv4Len+l4len))
		ttl := uint8(64)
		if fromServer {
			be.PutUint16(ip[4:], f.sipid)
			f.sipid++
			ttl = f.sttl
		} else {
			be.PutUint16(ip[4:], f.cipid)
			f.cipid++
		}
		var frag uint16
		if proto == protoTCP {
			frag = 0x4000 // DF
		}
		be.PutUint16(ip[6:], frag)
		ip[8], ip[9] = ttl, proto
		ip[10], ip[11] = 0, 0
		if fromServer {
			putServerAddr(ip[12:16], f)
			putClientAddr(ip[16:20], f)
		} else {
			putClientAddr(ip[12:16], f)
			putServerAddr(ip[16:20], f)
		}
		be.PutUint16(ip[10:], ^fold(sum(ip, 0)))
		return off + ipv4Len
	}
	be.PutUint16(b[off:], 0x86dd)
	off += 2
	ip := b[off : off+ipv6Len]
	be.PutUint32(ip[0:], 6<<28|uint32(f.id*2654435761)&0xfffff)
	be.PutUint16(ip[4:], uint16(l4len))
	ip[6], ip[7] = proto, 64
	if fromServer {
		ip[7] = f.sttl
		putServerAddr(ip[8:24], f)
		putClientAddr(ip[24:40], f)
	} else {
		putClientAddr(ip[8:24], f)
		putServerAddr(ip[24:40], f)
	}
	return off + ipv6Len
}

// sum adds b as big-endian 16-bit words to acc (RFC 1071).
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		v := be.Uint64(b)
		acc += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(be.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold folds a sum to 16 bits.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// putUDP writes a UDP header for a payload of n bytes (checksum left 0).
func putUDP(b []byte, sport, dport uint16, n int) {
	be.PutUint16(b[0:], sport)
	be.PutUint16(b[2:], dport)
	be.PutUint16(b[4:], uint16(udpLen+n))
	be.PutUint16(b[6:], 0)
}

// udpPacket writes a whole UDP frame whose payload the caller fills in
// afterwards at the returned offset; it returns that offset and the frame
// length.
func udpPacket(b []byte, f *flow, fromServer bool, n int) (payload, length int) {
	l4 := l3(b, f, fromServer, protoUDP, udpLen+n)
	if fromServer {
		putUDP(b[l4:], f.sport, f.cport, n)
	} else {
		putUDP(b[l4:], f.cport, f.sport, n)
	}
	return l4 + udpLen, l4 + udpLen + n
}
