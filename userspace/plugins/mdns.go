package plugins

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// MDNS collects the PTR answers of multicast DNS traffic, like NFStream's
// MDNS() plugin, in the column udps.mdns_ptr: a []string of the distinct
// PTR target names found in the answer sections of the flow's packets, in
// order of first appearance, with commas replaced by spaces.
//
// Only packets of flows whose destination port is 5353 are parsed. As
// NFStream parses them with dpkt, a packet contributes nothing unless the
// whole message decodes: every question and record well formed, every name
// valid UTF-8 of at most 255 bytes whose compression pointers go backwards,
// and every record of a type dpkt knows (A, NS, CNAME, SOA, NULL, PTR,
// HINFO, MX, TXT, AAAA, SRV, OPT; an NSEC record, for one, voids the packet).
// Unlike NFStream, a message whose names take more than 2^20 label and
// pointer steps to decode (only crafted pointer chains do) is skipped too.
type MDNS struct {
	// IPv6 also decodes IPv6 packets. NFStream does not: its dpkt.ip.IP
	// reads every packet as IPv4, so its IPv6 flows keep an empty list.
	IPv6 bool
}

// OnInit implements flows.Plugin.
func (m *MDNS) OnInit(p *flows.Packet, f *flows.Flow) {
	f.UDPS.Set("mdns_ptr", []string{})
	m.OnUpdate(p, f)
}

// OnUpdate implements flows.Plugin.
func (m *MDNS) OnUpdate(p *flows.Packet, f *flows.Flow) {
	if f.DstPort() != 5353 {
		return
	}
	payload, ok := dpktPayload(p.IPPacket, m.IPv6)
	if !ok {
		return
	}
	names, ok := dnsPTRAnswers(payload)
	if !ok || len(names) == 0 {
		return
	}
	v, _ := f.UDPS.Get("mdns_ptr")
	list, _ := v.([]string)
	grown := false
	for _, n := range names {
		n = strings.ReplaceAll(n, ",", " ")
		if !slices.Contains(list, n) {
			list = append(list, n)
			grown = true
		}
	}
	if grown {
		f.UDPS.Set("mdns_ptr", list)
	}
}

// OnExpire implements flows.Plugin.
func (*MDNS) OnExpire(*flows.Flow) {}

// DNS resource record types dpkt decodes.
const (
	dnsA     = 1
	dnsNS    = 2
	dnsCNAME = 5
	dnsSOA   = 6
	dnsNULL  = 10
	dnsPTR   = 12
	dnsHINFO = 13
	dnsMX    = 15
	dnsTXT   = 16
	dnsAAAA  = 28
	dnsSRV   = 33
	dnsOPT   = 41
)

// dnsStepBudget caps the labels and pointers followed while decoding one
// message. Crafted chains of backward pointers could otherwise make a 64 KiB
// message cost about 10^8 steps; real messages need a few thousand.
const dnsStepBudget = 1 << 20

// dnsPTRAnswers decodes a DNS message as dpkt.dns.DNS does and returns the
// target names of the PTR records of its answer section. It fails when
// dpkt would raise, and when decoding its names takes more than
// dnsStepBudget steps. Every loop is bounded by the message: names by 255
// bytes of labels and by compression pointers that must strictly decrease.
func dnsPTRAnswers(b []byte) ([]string, bool) {
	if len(b) < 12 {
		return nil, false
	}
	d := dnsDecoder{b: b, budget: dnsStepBudget}
	var counts [4]int
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(b[4+2*i:]))
	}
	off := 12
	for range counts[0] {
		var ok bool
		if _, off, ok = d.name(off, false); !ok || off+4 > len(b) {
			return nil, false
		}
		off += 4
	}
	var ptrs []string
	for sec := 1; sec < 4; sec++ {
		for range counts[sec] {
			var ok bool
			if _, off, ok = d.name(off, false); !ok || off+10 > len(b) {
				return nil, false
			}
			typ := binary.BigEndian.Uint16(b[off:])
			rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
			off += 10
			rdata := pyByteSlice(b, off, off+rdlen)
			switch typ {
			case dnsA, dnsAAAA, dnsNULL, dnsOPT:
			case dnsNS, dnsCNAME, dnsPTR:
				name, _, ok := d.name(off, typ == dnsPTR && sec == 1)
				if !ok {
					return nil, false
				}
				if typ == dnsPTR && sec == 1 {
					ptrs = append(ptrs, name)
				}
			case dnsSOA:
				_, next, ok := d.name(off, false)
				if ok {
					_, next, ok = d.name(next, false)
				}
				if !ok || next+20 > len(b) {
					return nil, false
				}
			case dnsMX:
				if len(rdata) < 2 {
					return nil, false
				}
				if _, _, ok := d.name(off+2, false); !ok {
					return nil, false
				}
			case dnsTXT, dnsHINFO:
				for len(rdata) > 0 {
					n := int(rdata[0])
					if !utf8.Valid(pyByteSlice(rdata, 1, 1+n)) {
						return nil, false
					}
					rdata = pyByteSlice(rdata, 1+n, len(rdata))
				}
			case dnsSRV:
				if len(rdata) < 6 {
					return nil, false
				}
				if _, _, ok := d.name(off+6, false); !ok {
					return nil, false
				}
			default:
				return nil, false
			}
			off += rdlen
		}
	}
	return ptrs, true
}

type dnsDecoder struct {
	b      []byte
	budget int
}

// name decodes the domain name at off as dpkt's unpack_name does and
// returns the offset just past it (past the first compression pointer if
// there is one), and the name itself when keep is set. A pointer must point
// before the start of the labels that led to it, labels total at most 255
// bytes (each counted with its length byte), label types 01 and 10 are
// invalid and the name must be UTF-8 (it is if each label is, as labels
// are joined by an ASCII '.').
func (d *dnsDecoder) name(off int, keep bool) (string, int, bool) {
	b := d.b
	var name []byte
	next, start, total := 0, off, 0
	for {
		if off >= len(b) || d.budget <= 0 {
			return "", 0, false
		}
		d.budget--
		n := int(b[off])
		switch {
		case n == 0:
			off++
			if next == 0 {
				next = off
			}
			return string(name), next, true
		case n&0xc0 == 0xc0:
			if off+2 > len(b) {
				return "", 0, false
			}
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if ptr >= start {
				return "", 0, false
			}
			if next == 0 {
				next = off + 2
			}
			start, off = ptr, ptr
		case n&0xc0 == 0:
			off++
			total += n + 1
			label := pyByteSlice(b, off, off+n)
			if total > 255 || !utf8.Valid(label) {
				return "", 0, false
			}
			if keep {
				if total > n+1 {
					name = append(name, '.')
				}
				name = append(name, label...)
			}
			off += n
		default:
			return "", 0, false
		}
	}
}
