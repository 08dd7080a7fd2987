package flows

import (
	"encoding/binary"
	"fmt"
)

// Link types (libpcap DLT numbers) understood by [Decode].
const (
	DLTNull          = 0
	DLTEthernet      = 1
	DLTPPP           = 9
	DLTRaw           = 12
	DLTPPPSerial     = 50
	DLTCHDLC         = 104
	DLTLinuxSLL      = 113
	DLTRadiotap      = 127
	DLTIPv4          = 228
	DLTIPv6          = 229
	linktypeRaw      = 101 // LINKTYPE_RAW as stored in files; libpcap maps it to DLTRaw
	maxDecodeRestart = 8   // bound on TZSP re-decapsulations of one frame
)

// Tunnel identifiers, as NFStream numbers them in the tunnel_id column.
const (
	TunnelNone   = 0
	TunnelGTP    = 1
	TunnelCAPWAP = 2
	TunnelTZSP   = 3
)

const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeMPLS  = 0x8847
	etherTypeMPLSM = 0x8848
	etherTypePPPoE = 0x8864
)

// SupportedLinkType reports whether [Decode] understands frames of link type
// dlt (a libpcap DLT number). Frames of other link types are all ignored.
func SupportedLinkType(dlt int) bool {
	switch dlt {
	case DLTNull, DLTEthernet, DLTPPP, DLTRaw, linktypeRaw, DLTPPPSerial, DLTCHDLC, DLTLinuxSLL, DLTRadiotap, DLTIPv4, DLTIPv6:
		return true
	}
	return false
}

// LinkTypeError reports a capture whose link type nfmeter cannot decode.
type LinkTypeError struct {
	File     string
	LinkType int
}

func (e *LinkTypeError) Error() string {
	return fmt.Sprintf("capture %q: unsupported link type %d (supported: 0 NULL, 1 Ethernet, 9 PPP, 12/101 raw IP, 50 PPP serial, 104 Cisco HDLC, 113 Linux SLL, 127 radiotap, 228 IPv4, 229 IPv6)", e.File, e.LinkType)
}

// Decoded is the result of [Decode]: everything the flow table needs from one
// frame. It has no pointers so that batches of it are cheap to move between
// goroutines. The zero value is an ignored packet.
type Decoded struct {
	// Src and Dst are the innermost IP addresses; IPv4 uses the first 4 bytes.
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Protocol         uint8
	IPVersion        uint8 // 4 or 6; 0 when the frame was ignored
	VLANID           uint16
	TunnelID         uint8
	Flags            uint8 // TCP flags byte (fin 0x01 ... cwr 0x80)
	SrcMAC, DstMAC   [6]byte

	// The four sizes of NFStream's accounting modes, in bytes. Unlike
	// NFStream's 16-bit sizes they count super-packets (GSO/GRO, BIG TCP,
	// jumbograms) whole: see [MaxFrameLen].
	RawSize       uint32 // wire length
	IPSize        uint32 // IPv4 total length, IPv6 payload length
	TransportSize uint32
	PayloadSize   uint32

	// L3Off is the offset of the innermost IP header in the frame; L3Len the
	// number of captured bytes from there (what nDPI is given).
	L3Off int32
	L3Len uint16
}

// Valid reports whether the frame decoded to an IP packet that is metered.
func (d *Decoded) Valid() bool { return d.IPVersion != 0 }

// MaxFrameLen is the longest frame counted at its full length: Linux builds
// GSO/GRO and BIG TCP super-packets of up to 512 KiB. NFStream truncates
// every size to 16 bits. nfmeter counts a wire length above 65,535 bytes
// whole when it is at most MaxFrameLen and the IP header accounts for it
// (the frame ends with the IP packet), and truncates it like NFStream
// otherwise: a damaged or made-up record (the conformance corpus has one of
// 4,093,509,168 bytes and one of 70,000 for a short packet, counted 65,072
// and 4,464 as by NFStream). An IPv4 total length or IPv6 payload length of
// 0 in a frame too long for the 16-bit field (BIG TCP, an IPv6 jumbogram)
// is taken from the wire length; NFStream ignores such IPv4 packets and
// counts such IPv6 ones without ports.
const MaxFrameLen = 1 << 20

// Size returns the packet size that accounting mode m counts.
func (d *Decoded) Size(m AccountingMode) uint32 {
	switch m {
	case AccountIP:
		return d.IPSize
	case AccountTransport:
		return d.TransportSize
	case AccountPayload:
		return d.PayloadSize
	default:
		return d.RawSize
	}
}

func be16(b []byte, off int) uint16 {
	if off < 0 || off+2 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint16(b[off:])
}

func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}

func byteAt(b []byte, off int) byte {
	if off < 0 || off >= len(b) {
		return 0
	}
	return b[off]
}

// Decode parses one captured frame of link type dlt exactly the way
// NFStream 6.5.4 does (docs: nfstream-spec §1) and fills d. It reports
// whether the packet is metered; a false result is an "ignored" packet. It
// never allocates and never panics, whatever data holds.
func Decode(d *Decoded, data []byte, dlt int, wireLen uint32, decodeTunnels bool) bool {
	*d = Decoded{}
	caplen := len(data)
	var (
		ethOffset int
		off       int // ip_offset
		typ       int
		fragOff   uint16 // remembered from the last IPv4-typed header
		proto     uint8  // remembered protocol, see spec §1.5 step 2
		ipLen     int
		tunnel    uint8
		vlan      uint16
		restarts  int
	)
	if dlt == linktypeRaw {
		dlt = DLTRaw
	}

datalink:
	if caplen < ethOffset+28 {
		return false
	}
	typ = 0
	switch dlt {
	case DLTNull:
		if be32(data, ethOffset) == 2 {
			typ = etherTypeIPv4
		} else {
			typ = etherTypeIPv6
		}
		off = ethOffset + 4
	case DLTPPPSerial:
		typ = int(be16(data, ethOffset+2))
		off = ethOffset + 4
	case DLTPPP, DLTCHDLC:
		if data[0] == 0x0f || data[0] == 0x8f {
			typ = int(be16(data, ethOffset+2))
			off = ethOffset + 4
		} else {
			typ = int(be16(data, ethOffset))
			off = ethOffset + 2
		}
	case DLTIPv4:
		typ = etherTypeIPv4
		off = ethOffset
	case DLTIPv6:
		typ = etherTypeIPv6
		off = ethOffset
	case DLTRaw:
		switch data[ethOffset] >> 4 {
		case 4:
			typ = etherTypeIPv4
		case 6:
			typ = etherTypeIPv6
		}
		off = ethOffset
	case DLTEthernet:
		copy(d.DstMAC[:], data[ethOffset:ethOffset+6])
		copy(d.SrcMAC[:], data[ethOffset+6:ethOffset+12])
		off = ethOffset + 14
		v := int(be16(data, ethOffset+12))
		if v <= 1500 {
			dsap, ssap := data[off], data[off+1]
			if dsap == 0xaa || ssap == 0xaa {
				// SNAP protocol id read in host (little-endian) order.
				typ = int(binary.LittleEndian.Uint16(data[off+6:]))
				off += 8
			} else if dsap == 0x42 || ssap == 0x42 {
				return false
			}
		} else if v >= 1536 {
			typ = v
		}
	case DLTLinuxSLL:
		typ = int(be16(data, ethOffset+14))
		off = ethOffset + 16
	case DLTRadiotap:
		rlen := int(binary.LittleEndian.Uint16(data[ethOffset+2:]))
		if data[ethOffset+16]&0x50 == 0x50 {
			return false
		}
		if caplen < ethOffset+rlen+24 {
			return false
		}
		w := ethOffset + rlen
		fc := binary.LittleEndian.Uint16(data[w:])
		if (fc>>2)&3 != 2 {
			return false
		}
		wifiLen := 0
		toDS, fromDS := fc&0x0100 != 0, fc&0x0200 != 0
		if toDS != fromDS {
			wifiLen = 26
		}
		copy(d.SrcMAC[:], data[w+10:w+16])
		copy(d.DstMAC[:], data[w+16:w+22])
		if caplen < ethOffset+wifiLen+rlen+8 {
			return false
		}
		llc := ethOffset + wifiLen + rlen
		if data[llc] == 0xaa {
			typ = int(be16(data, llc+6))
		}
		off = llc + 8
	default:
		return false
	}

	// Ethertype stack: VLAN, MPLS, PPPoE.
	for {
		switch typ {
		case etherTypeVLAN:
			if off+4 >= caplen {
				return false
			}
			vlan = be16(data, off) & 0xfff
			typ = int(be16(data, off+2))
			off += 4
			for typ == etherTypeVLAN && off+4 < caplen {
				vlan = be16(data, off) & 0xfff
				typ = int(be16(data, off+2))
				off += 4
			}
			continue
		case etherTypeMPLS, etherTypeMPLSM:
			if off+4 >= caplen {
				return false
			}
			label := be32(data, off)
			typ = etherTypeIPv4
			off += 4
			for label&0x100 == 0 && off+4 < caplen {
				label = be32(data, off)
				off += 4
			}
			continue
		case etherTypePPPoE:
			typ = etherTypeIPv4
			off += 8
			continue
		}
		break
	}

	var (
		l4Ptr      int
		l4Len      int
		v6Proto    uint8
		v6Extended bool // the IPv6 extension-header walk of the final header is done
	)
iphCheck:
	if caplen < off+20 {
		return false
	}
	if typ == etherTypeIPv4 {
		fragOff = be16(data, off+6)
		proto = data[off+9]
	}
	switch data[off] >> 4 {
	case 4:
		ipLen = int(data[off]&0x0f) * 4
		if p := data[off+9]; p == 41 || p == 4 {
			off += ipLen
			if ipLen > 0 {
				goto iphCheck
			}
		}
		if fragOff&0x1fff != 0 {
			return false
		}
		v6Extended = false
	case 6:
		if caplen < off+40 {
			return false
		}
		plen := int(be16(data, off+4))
		if caplen < off+40+plen {
			return false
		}
		nh := data[off+6]
		l3len := uint16(caplen - off)
		walk := uint32(plen)
		if big := superLen(wireLen, off, 40); plen == 0 && big > 0 {
			walk = big
		}
		ptr, l4, ok := ipv6ExtHeaders(data, off+40, l3len-40, walk, &nh)
		if !ok {
			return false
		}
		proto = nh
		ipLen = int(l4)
		if nh == 41 || nh == 4 {
			off = ptr
			goto iphCheck
		}
		l4Ptr, l4Len, v6Proto, v6Extended = ptr, int(l4), nh, true
	default:
		return false
	}

	// UDP tunnels.
	if decodeTunnels && proto == 17 {
		if caplen < off+ipLen+8 {
			return false
		}
		u := off + ipLen
		sport, dport := be16(data, u), be16(data, u+2)
		switch {
		case sport == 2152 || dport == 2152:
			if u+16 < caplen {
				g := u + 8
				flags, msgType := data[g], data[g+1]
				if flags>>5 == 1 && msgType == 0xff {
					g += 8
					if flags&0x07 != 0 {
						g += 4
					}
					extErr := false
					if flags&0x04 != 0 {
						for g < caplen {
							n := int(data[g]) << 2
							g += n
							if g >= caplen || n == 0 {
								extErr = true
								break
							}
							if data[g-1] == 0 {
								break
							}
						}
					}
					if g < caplen && !extErr {
						tunnel = TunnelGTP
						off = g
						switch data[off] >> 4 {
						case 6:
							if caplen < off+40 {
								return false
							}
						case 4:
							if caplen < off+20 {
								return false
							}
						default:
							return false
						}
						// The inner header goes straight to the transport
						// layer: no fragment check, no further tunnels.
						v6Extended = false
						goto transport
					}
				}
			}
		case sport == 37008 || dport == 37008:
			if caplen < u+8+4 {
				return false
			}
			t := u + 8
			version, tsType, encap := data[t], data[t+1], be16(data, t+2)
			tunnel = TunnelTZSP
			if version == 1 && tsType == 0 && encap == 1 {
				t += 4
				if t < caplen {
					var tagLen int
					switch data[t] {
					case 0, 1:
						tagLen = 1
					default:
						if t+1 >= caplen {
							return false
						}
						tagLen = int(data[t+1])
					}
					t += tagLen
					if t >= caplen {
						return false
					}
					restarts++
					if restarts > maxDecodeRestart {
						return false
					}
					ethOffset = t
					goto datalink
				}
			}
		case sport == 5247 || dport == 5247:
			c := u + 8
			if c+1 < caplen && data[c]&0x0f == 0 {
				c += int(data[c+1]&0xf8) >> 1
				if c+32 < caplen {
					copy(d.SrcMAC[:], data[c+10:c+16])
					copy(d.DstMAC[:], data[c+16:c+22])
					typ = int(be16(data, c+24+6))
					tunnel = TunnelCAPWAP
					off = c + 32
					restarts++
					if restarts > maxDecodeRestart {
						return false
					}
					goto iphCheck
				}
			}
		}
	}
transport:
	d.VLANID = vlan
	d.TunnelID = tunnel
	return d.fillL3L4(data, off, wireLen, v6Extended, l4Ptr, l4Len, v6Proto)
}

// fillL3L4 is NFStream's flow-information step (spec §1.7) on the IP header
// at off. When known is set the IPv6 extension-header walk was already done
// by the caller with the given results.
func (d *Decoded) fillL3L4(data []byte, off int, wireLen uint32, known bool, kPtr, kLen int, kProto uint8) bool {
	caplen := len(data)
	if off < 0 || off >= caplen {
		return false
	}
	ipsize := uint16(caplen - off)
	avail := uint32(ipsize) // IP bytes there are: captured, or a super-packet's
	var (
		tot, l4len uint32
		l4off      int
		proto      uint8
	)

	switch data[off] >> 4 {
	case 4:
		if ipsize < 20 {
			return false
		}
		ihl := uint16(data[off]&0x0f) * 4
		if ihl > ipsize {
			return false
		}
		tot = uint32(be16(data, off+2))
		l4len = uint32(uint16(tot) - ihl)
		if big := superLen(wireLen, off, 0); tot == 0 && big > 0 {
			tot, l4len = big, big-uint32(ihl)
		}
		l4off = int(ihl)
		proto = data[off+9]
		d.IPVersion = 4
		copy(d.Src[:4], data[off+12:off+16])
		copy(d.Dst[:4], data[off+16:off+20])
	case 6:
		if ipsize < 40 {
			return false
		}
		tot = uint32(be16(data, off+4))
		if int(ipsize) < 40+int(tot) {
			return false
		}
		if big := superLen(wireLen, off, 40); tot == 0 && big > 0 {
			tot, avail = big, 40+big
		}
		if known {
			l4off, l4len, proto = kPtr-off, uint32(kLen), kProto
		} else {
			nh := data[off+6]
			ptr, l4, ok := ipv6ExtHeaders(data, off+40, ipsize-40, tot, &nh)
			if !ok {
				return false
			}
			l4off, l4len, proto = ptr-off, l4, nh
		}
		if l4off > int(ipsize) {
			return false
		}
		d.IPVersion = 6
		copy(d.Src[:], data[off+8:off+24])
		copy(d.Dst[:], data[off+24:off+40])
	default:
		return false
	}
	if max(int(tot), int(avail)) < l4off+int(l4len) {
		d.IPVersion = 0
		return false
	}
	d.Protocol = proto
	d.RawSize = wireLen
	if iplen := int64(tot); wireLen > 0xffff {
		if d.IPVersion == 6 {
			iplen += 40
		}
		if wireLen > MaxFrameLen || int64(off)+iplen != int64(wireLen) {
			d.RawSize = uint32(uint16(wireLen))
		}
	}
	d.IPSize = tot
	d.L3Off = int32(off)
	d.L3Len = ipsize
	l4 := off + l4off
	switch {
	case proto == 6 && l4len >= 20:
		d.SrcPort, d.DstPort = be16(data, l4), be16(data, l4+2)
		d.Flags = byteAt(data, l4+13)
		d.TransportSize = l4len
		if hl := uint32(byteAt(data, l4+12)>>4) * 4; l4len > hl {
			d.PayloadSize = l4len - hl
		}
	case proto == 17 && l4len >= 8:
		d.SrcPort, d.DstPort = be16(data, l4), be16(data, l4+2)
		d.TransportSize = l4len
		if l4len > 8 {
			d.PayloadSize = l4len - 8
		}
	case proto == 1 || proto == 58:
		d.TransportSize = l4len
		if l4len > 8 {
			d.PayloadSize = l4len - 8
		}
	}
	return true
}

// superLen is the length after the hdr-byte header at off of a frame of
// wireLen bytes when it is too long for a 16-bit length field (a
// super-packet, whose field is 0: see MaxFrameLen), else 0.
func superLen(wireLen uint32, off, hdr int) uint32 {
	if w := int64(wireLen) - int64(off) - int64(hdr); w > 0xffff && wireLen <= MaxFrameLen {
		return uint32(w)
	}
	return 0
}

// ipv6ExtHeaders walks IPv6 extension headers like nDPI 4.7's
// ndpi_handle_ipv6_extension_headers: l3len is the number of captured bytes
// after the fixed header, l4len the remaining payload length. It returns the
// offset of the upper-layer header and its length.
func ipv6ExtHeaders(data []byte, ptr int, l3len uint16, l4len uint32, nh *uint8) (int, uint32, bool) {
	for l3len > 1 {
		switch *nh {
		case 0, 43, 44, 60, 135, 59:
		default:
			return ptr, l4len, true
		}
		if *nh == 59 {
			return 0, 0, false
		}
		if *nh == 44 {
			if l4len < 8 || l3len < 5 {
				return 0, 0, false
			}
			l3len -= 5
			*nh = byteAt(data, ptr)
			if be16(data, ptr+2)>>3 != 0 {
				return 0, 0, false
			}
			l4len -= 8
			ptr += 8
			continue
		}
		if l4len < 2 {
			return 0, 0, false
		}
		elen := uint16(byteAt(data, ptr+1))*8 + 8
		if elen > l3len {
			return 0, 0, false
		}
		l3len -= elen
		if l4len < uint32(elen) {
			return 0, 0, false
		}
		*nh = byteAt(data, ptr)
		l4len -= uint32(elen)
		ptr += int(elen)
	}
	return ptr, l4len, true
}
