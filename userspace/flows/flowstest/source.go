// Package flowstest provides fakes for testing code built on package flows
// without capture files.
package flowstest

import (
	"encoding/binary"
	"io"
	"net/netip"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Source is an in-memory [flows.Source]: Push frames, then meter it.
type Source struct {
	pkts []flows.Frame
	i    int
	// Err, when set, is returned after the last frame instead of io.EOF.
	Err error
}

// Push appends an Ethernet frame captured at ms milliseconds.
func (s *Source) Push(ms int64, frame []byte) {
	s.pkts = append(s.pkts, flows.Frame{
		Sec: ms / 1000, Usec: (ms % 1000) * 1000,
		CapLen: uint32(len(frame)), WireLen: uint32(len(frame)),
		LinkType: 1, Data: frame,
	})
}

// PushIdle makes Next report [flows.ErrIdle] at ms milliseconds, as a live
// source does when no frame arrives.
func (s *Source) PushIdle(ms int64) {
	s.pkts = append(s.pkts, flows.Frame{Sec: ms / 1000, Usec: (ms % 1000) * 1000, LinkType: -1})
}

// Reads returns how many times Next has returned.
func (s *Source) Reads() int { return s.i }

// Len returns the number of frames pushed.
func (s *Source) Len() int { return len(s.pkts) }

// Next implements flows.Source.
func (s *Source) Next(p *flows.Frame) error {
	if s.i >= len(s.pkts) {
		if s.Err != nil {
			return s.Err
		}
		return io.EOF
	}
	*p = s.pkts[s.i]
	s.i++
	if p.LinkType == -1 {
		p.LinkType = 0
		return flows.ErrIdle
	}
	return nil
}

// TCP returns an Ethernet/IPv4/TCP (or IPv6/TCP, by the addresses) frame
// with the given flags and payload length.
func TCP(src, dst netip.AddrPort, flags uint8, payload int) []byte {
	return ipv4(src, dst, 6, flags, payload)
}

// UDP returns an Ethernet/IPv4/UDP (or IPv6/UDP) frame with the given
// payload length.
func UDP(src, dst netip.AddrPort, payload int) []byte {
	return ipv4(src, dst, 17, 0, payload)
}

func ipv4(src, dst netip.AddrPort, proto, flags uint8, payload int) []byte {
	l4 := 8
	if proto == 6 {
		l4 = 20
	}
	v6 := src.Addr().Is6() && !src.Addr().Is4In6()
	ipLen := 20
	if v6 {
		ipLen = 40
	}
	f := make([]byte, 14+ipLen+l4+payload)
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	ip := f[14:]
	if v6 {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(l4+payload))
		ip[6] = proto
		ip[7] = 64
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:24], s16[:])
		copy(ip[24:40], d16[:])
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
		ip[8] = 64
		ip[9] = proto
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:16], s4[:])
		copy(ip[16:20], d4[:])
	}
	l := ip[ipLen:]
	binary.BigEndian.PutUint16(l[0:], src.Port())
	binary.BigEndian.PutUint16(l[2:], dst.Port())
	if proto == 6 {
		l[12] = 5 << 4
		l[13] = flags
	} else {
		binary.BigEndian.PutUint16(l[4:], uint16(8+payload))
	}
	return f
}
