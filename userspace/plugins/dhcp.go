package plugins

import (
	"encoding/binary"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// MsgType is a DHCP message type (option 53). Its String form is the one
// NFStream prints for its MsgType enum, e.g. "MsgType.REQUEST".
type MsgType int

// DHCP message types.
const (
	MsgDiscover MsgType = 1
	MsgOffer    MsgType = 2
	MsgRequest  MsgType = 3
	MsgDecline  MsgType = 4
	MsgAck      MsgType = 5
	MsgNack     MsgType = 6
	MsgRelease  MsgType = 7
	MsgInform   MsgType = 8
)

var msgTypeNames = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NACK", "RELEASE", "INFORM"}

func (m MsgType) String() string {
	if m >= MsgDiscover && m <= MsgInform {
		return "MsgType." + msgTypeNames[m]
	}
	return "MsgType(" + strconv.Itoa(int(m)) + ")"
}

// DHCP extracts DHCP client information, like NFStream's DHCP() plugin. It
// adds, in this order, the columns below; options 12, 57, 60 and 77 are
// taken from any parsed packet (the last one wins), the others as stated.
//
//	udps.dhcp_12        string: host name (option 12), invalid UTF-8 replaced by U+FFFD; nil if absent or empty
//	udps.dhcp_50        string: requested IP address (option 50) of the last REQUEST, else nil
//	udps.dhcp_55        string: parameter request list (option 55) of the last REQUEST, as "1,3,6,42", else nil
//	udps.dhcp_57        int: maximum message size (option 57); a *big.Int past 63 bits; nil if absent
//	udps.dhcp_60        string: vendor class identifier (option 60), nil if absent
//	udps.dhcp_77        string: user class (option 77), nil if absent
//	udps.dhcp_options   []int: option codes of the last REQUEST, in packet order ([] before one)
//	udps.dhcp_addr      string: the REQUEST's ciaddr when not 0.0.0.0, else nil
//	udps.dhcp_msg_type  MsgType of the first parsed packet; int 0 if it had no option 53; nil if none parsed
//	udps.dhcp_oui       string: first three bytes of the REQUEST's chaddr, "00:0b:82"
//
// Only packets of flows whose destination port is 67 are parsed (the
// flow's, so a server's replies to a client's port 68 are not), and only
// as IPv4 with a UDP (or TCP) header, as NFStream's dpkt.ip.IP does. The
// flow is forced out (expiration_id -1) after an ACK, NACK, INFORM or
// DECLINE, and after any parsed packet of a flow from 0.0.0.0, so each
// DISCOVER or REQUEST from an unconfigured client is a flow of its own.
//
// Where NFStream's plugin would raise (an option 53 value outside 1..8,
// option 60 or 77 not UTF-8, option 50 wider than an IPv6 address, a
// REQUEST whose hardware address length is not 6), the packet's processing
// stops at that point and the values set before it stay.
type DHCP struct{}

// OnInit implements flows.Plugin.
func (*DHCP) OnInit(p *flows.Packet, f *flows.Flow) {
	for _, n := range [...]string{"dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77"} {
		f.UDPS.Set(n, nil)
	}
	f.UDPS.Set("dhcp_options", []int{})
	f.UDPS.Set("dhcp_addr", nil)
	f.UDPS.Set("dhcp_msg_type", nil)
	f.UDPS.Set("dhcp_oui", nil)
	dhcpUpdate(p, f)
}

// OnUpdate implements flows.Plugin.
func (*DHCP) OnUpdate(p *flows.Packet, f *flows.Flow) { dhcpUpdate(p, f) }

// OnExpire implements flows.Plugin.
func (*DHCP) OnExpire(*flows.Flow) {}

func dhcpUpdate(p *flows.Packet, f *flows.Flow) {
	if f.DstPort() != 67 {
		return
	}
	payload, ok := dpktPayload(p.IPPacket, false)
	if !ok {
		return
	}
	m, ok := parseDHCPMessage(payload)
	if !ok {
		return
	}
	dhcpApply(m, flows.FormatAddr(f.SrcAddr()) == "0.0.0.0", f)
}

// dhcpMessage is the part of a BOOTP/DHCP message the plugin reads. Option
// data alias the packet.
type dhcpMessage struct {
	hlen   byte
	ciaddr [4]byte
	chaddr [16]byte
	opts   []dhcpOption
}

type dhcpOption struct {
	code byte
	data []byte
}

const dhcpHeaderLen = 240 // fixed BOOTP fields and the magic cookie

// parseDHCPMessage reads b as dpkt.dhcp.DHCP does: a 240-byte fixed part
// (the magic cookie is not checked) followed by options, where code 0 is
// padding, 255 ends the list and an option's data is cut short at the end
// of the packet. A lone code byte at the very end fails the whole message.
func parseDHCPMessage(b []byte) (*dhcpMessage, bool) {
	if len(b) < dhcpHeaderLen {
		return nil, false
	}
	m := &dhcpMessage{hlen: b[2]}
	copy(m.ciaddr[:], b[12:16])
	copy(m.chaddr[:], b[28:44])
	rest := b[dhcpHeaderLen:]
	for len(rest) > 0 {
		switch code := rest[0]; code {
		case 255:
			return m, true
		case 0:
			rest = rest[1:]
		default:
			if len(rest) < 2 {
				return nil, false
			}
			end := min(2+int(rest[1]), len(rest))
			m.opts = append(m.opts, dhcpOption{code, rest[2:end]})
			rest = rest[end:]
		}
	}
	return m, true
}

// dhcpApply updates f from one parsed message, following NFStream's plugin
// step by step (including where it would stop on an exception).
func dhcpApply(m *dhcpMessage, fromZero bool, f *flows.Flow) {
	msgType := MsgType(0)
	options := make([]int, 0, len(m.opts))
	var opt50, opt55 any
	for _, o := range m.opts {
		switch o.code {
		case 12:
			if len(o.data) > 0 {
				f.UDPS.Set("dhcp_12", decodeUTF8Replace(o.data))
			}
		case 53:
			v, ok := dhcpUint(o.data)
			if !ok || v < uint64(MsgDiscover) || v > uint64(MsgInform) {
				return // MsgType(value) raises ValueError
			}
			msgType = MsgType(v)
		case 60, 77:
			if !utf8.Valid(o.data) {
				return // strict decode raises UnicodeDecodeError
			}
			f.UDPS.Set("dhcp_"+strconv.Itoa(int(o.code)), string(o.data))
		case 57:
			f.UDPS.Set("dhcp_57", dhcpInt(o.data))
		case 55:
			var sb strings.Builder
			for i, c := range o.data {
				if i > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(strconv.Itoa(int(c)))
			}
			opt55 = sb.String()
		case 50:
			s, ok := dhcpIPString(o.data)
			if !ok {
				return // ip_address(int) raises ValueError past 128 bits
			}
			opt50 = s
		}
		options = append(options, int(o.code))
	}

	if msgType == MsgRequest {
		if m.hlen != 6 {
			return // the 6-byte unpack of chaddr[:hlen] raises struct.error
		}
		f.UDPS.Set("dhcp_oui", flows.FormatMAC([6]byte(m.chaddr[:6]))[:8])
		f.UDPS.Set("dhcp_options", options)
		f.UDPS.Set("dhcp_55", opt55)
		f.UDPS.Set("dhcp_50", opt50)
		if m.ciaddr != [4]byte{} {
			f.UDPS.Set("dhcp_addr", netip.AddrFrom4(m.ciaddr).String())
		}
	}
	switch msgType {
	case MsgAck, MsgNack, MsgInform, MsgDecline:
		f.ExpirationID = -1
	}
	if fromZero {
		f.ExpirationID = -1
	}
	if v, _ := f.UDPS.Get("dhcp_msg_type"); v == nil {
		if msgType == 0 {
			f.UDPS.Set("dhcp_msg_type", 0) // NFStream keeps the plain int 0
		} else {
			f.UDPS.Set("dhcp_msg_type", msgType)
		}
	}
}

// dhcpTrimZeros returns b without its leading zero bytes.
func dhcpTrimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// dhcpUint returns the big-endian unsigned value of b when it fits in
// 64 bits.
func dhcpUint(b []byte) (uint64, bool) {
	b = dhcpTrimZeros(b)
	if len(b) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, true
}

// dhcpInt is Python's int.from_bytes(b, "big"): an int, or a *big.Int
// when the value does not fit in 63 bits.
func dhcpInt(b []byte) any {
	if v, ok := dhcpUint(b); ok && v <= 1<<63-1 {
		return int(v)
	}
	return new(big.Int).SetBytes(b)
}

// dhcpIPString is str(ipaddress.ip_address(int.from_bytes(b, "big"))):
// IPv4 below 2**32, IPv6 below 2**128 (formatted as Python does, without
// an embedded dotted quad), an error beyond.
func dhcpIPString(b []byte) (string, bool) {
	b = dhcpTrimZeros(b)
	switch {
	case len(b) <= 4:
		var a [4]byte
		copy(a[4-len(b):], b)
		return netip.AddrFrom4(a).String(), true
	case len(b) <= 16:
		var a [16]byte
		copy(a[16-len(b):], b)
		return pyIPv6String(a), true
	}
	return "", false
}

// pyIPv6String formats an IPv6 address like Python's ipaddress: lowercase
// hextets without leading zeros, the longest run (first on ties) of two or
// more zero hextets written "::".
func pyIPv6String(a [16]byte) string {
	var h [8]uint16
	for i := range h {
		h[i] = binary.BigEndian.Uint16(a[2*i:])
	}
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if h[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && h[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			sb.WriteString("::")
			i += bestLen - 1
			continue
		}
		if i > 0 && i != best+bestLen {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(h[i]), 16))
	}
	return sb.String()
}

// decodeUTF8Replace decodes b as Python's bytes.decode("utf-8", "replace"):
// each maximal prefix of a valid sequence that is cut short, and each byte
// that cannot start one, becomes one U+FFFD.
func decodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			sb.WriteByte(c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xbf)
		switch {
		case c >= 0xc2 && c <= 0xdf:
			need = 1
		case c == 0xe0:
			need, lo = 2, 0xa0
		case c == 0xed:
			need, hi = 2, 0x9f
		case c >= 0xe1 && c <= 0xef:
			need = 2
		case c == 0xf0:
			need, lo = 3, 0x90
		case c == 0xf4:
			need, hi = 3, 0x8f
		case c >= 0xf1 && c <= 0xf3:
			need = 3
		}
		j := i + 1
		valid := need > 0
		for k := 0; k < need; k++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				valid = false
				break
			}
			j++
			lo, hi = 0x80, 0xbf
		}
		if valid {
			sb.Write(b[i:j])
		} else {
			sb.WriteRune(utf8.RuneError)
		}
		i = j
	}
	return sb.String()
}

// pyByteSlice is Python's b[lo:hi] for 0 <= lo, hi.
func pyByteSlice(b []byte, lo, hi int) []byte {
	hi = min(hi, len(b))
	if lo >= hi {
		return nil
	}
	return b[lo:hi]
}

// dpktPayload returns the UDP or TCP payload of an IP packet the way
// NFStream's plugins reach it, dpkt.ip.IP(ip_packet).data.data: the bytes
// are read as an IPv4 header whatever their version nibble (an IHL below 5
// fails), the payload ends at the total length when that is not 0, a
// non-first fragment or a protocol other than UDP and TCP fails, and a
// transport header cut short fails; UDP's length field is not used. With
// ipv6, packets whose version nibble is 6 are decoded as IPv6 instead.
func dpktPayload(b []byte, ipv6 bool) ([]byte, bool) {
	if ipv6 && len(b) > 0 && b[0]>>4 == 6 {
		return ipv6L4Payload(b)
	}
	if len(b) < 20 {
		return nil, false
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 {
		return nil, false
	}
	body := b[min(hl, len(b)):]
	if total := int(binary.BigEndian.Uint16(b[2:4])); total != 0 {
		body = pyByteSlice(b, hl, total)
	}
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return nil, false
	}
	return dpktL4Payload(b[9], body)
}

func dpktL4Payload(proto byte, body []byte) ([]byte, bool) {
	switch proto {
	case 17:
		if len(body) < 8 {
			return nil, false
		}
		return body[8:], true
	case 6:
		if len(body) < 20 {
			return nil, false
		}
		off := int(body[12]>>4) * 4
		if off < 20 {
			return nil, false
		}
		return pyByteSlice(body, off, len(body)), true
	}
	return nil, false
}

// ipv6L4Payload skips the fixed header and up to 8 extension headers
// (hop-by-hop, routing, destination options, first fragments, AH).
func ipv6L4Payload(b []byte) ([]byte, bool) {
	if len(b) < 40 {
		return nil, false
	}
	body := b[40:]
	if plen := int(binary.BigEndian.Uint16(b[4:6])); plen != 0 {
		body = pyByteSlice(b, 40, 40+plen)
	}
	next := b[6]
	for range 8 {
		var n int
		switch next {
		case 0, 43, 60:
			if len(body) < 2 {
				return nil, false
			}
			n = (int(body[1]) + 1) * 8
		case 44:
			if len(body) < 8 || binary.BigEndian.Uint16(body[2:4])&0xfff8 != 0 {
				return nil, false
			}
			n = 8
		case 51:
			if len(body) < 2 {
				return nil, false
			}
			n = (int(body[1]) + 2) * 4
		default:
			return dpktL4Payload(next, body)
		}
		if n > len(body) {
			return nil, false
		}
		next, body = body[0], body[n:]
	}
	return nil, false
}
