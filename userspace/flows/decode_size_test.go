package flows_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// Issue 11, item 3: sizes above 65,535 bytes are counted whole. A GSO, GRO
// or BIG TCP super-packet is captured cut to the snap length, its wire
// length intact; IPv4 BIG TCP has total length 0, IPv6 BIG TCP payload
// length 0 (with or without a hop-by-hop jumbo option). A wire length the IP
// header does not account for (a damaged record) keeps NFStream's 16-bit
// truncation.
func TestDecodeSuperPacketSizes(t *testing.T) {
	const snap = 1536
	v4src, v4dst := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:5201")
	v6src, v6dst := netip.MustParseAddrPort("[fd00::1]:40000"), netip.MustParseAddrPort("[fd00::2]:5201")
	// frame returns the first snap bytes of a TCP frame with payload bytes
	// of payload, its IP length field set to 0 when zero.
	frame := func(src, dst netip.AddrPort, payload int, zero bool) []byte {
		f := flowstest.TCP(src, dst, 0x10, snap)[:snap] // headers as for the full packet
		if src.Addr().Is4() {
			binary.BigEndian.PutUint16(f[16:], uint16(20+20+payload)) // wraps when too long
			if zero {
				binary.BigEndian.PutUint16(f[16:], 0)
			}
		} else {
			binary.BigEndian.PutUint16(f[18:], uint16(20+payload))
			if zero {
				binary.BigEndian.PutUint16(f[18:], 0)
			}
		}
		return f
	}
	// jumbo inserts an 8-byte hop-by-hop header with a jumbo payload
	// option into an IPv6 frame.
	jumbo := func(f []byte, payload int) []byte {
		out := append([]byte(nil), f[:54]...)
		out[20] = 0 // next header: hop-by-hop
		hbh := []byte{6, 0, 0xc2, 4, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hbh[4:], uint32(8+20+payload))
		out = append(out, hbh...)
		return append(out, f[54:len(f)-8]...)
	}
	const pay = 200000
	for _, c := range []struct {
		name                   string
		data                   []byte
		wire                   uint32
		raw, ip, tr, pl, sport uint64
	}{
		{"IPv4 GSO of 64 KiB", frame(v4src, v4dst, 65495, false), 14 + 65535, 14 + 65535, 65535, 65515, 65495, 40000},
		{"IPv4 BIG TCP", frame(v4src, v4dst, pay, true), 14 + 40 + pay, 14 + 40 + pay, 40 + pay, 20 + pay, pay, 40000},
		{"IPv6 BIG TCP", frame(v6src, v6dst, pay, true), 14 + 60 + pay, 14 + 60 + pay, 20 + pay, 20 + pay, pay, 40000},
		{"IPv6 jumbogram", jumbo(frame(v6src, v6dst, pay, true), pay), 14 + 68 + pay, 14 + 68 + pay, 28 + pay, 20 + pay, pay, 40000},
		// fuzz-2021-06-07-c6c72a0a56.pcap of the conformance corpus.
		{"damaged wire length", flowstest.TCP(v4src, v4dst, 0x10, 100), 4093509168, 65072, 140, 120, 100, 40000},
		// A wire length the IP header does not account for, as in a
		// synthetic capture of the conformance corpus.
		{"made-up wire length", flowstest.TCP(v4src, v4dst, 0x10, 100), 70000, 4464, 140, 120, 100, 40000},
	} {
		var d flows.Decoded
		if !flows.Decode(&d, c.data, flows.DLTEthernet, c.wire, true) {
			t.Errorf("%s: ignored", c.name)
			continue
		}
		got := [5]uint64{uint64(d.RawSize), uint64(d.IPSize), uint64(d.TransportSize), uint64(d.PayloadSize), uint64(d.SrcPort)}
		if want := [5]uint64{c.raw, c.ip, c.tr, c.pl, c.sport}; got != want {
			t.Errorf("%s: raw, ip, transport, payload sizes and source port %v, want %v", c.name, got, want)
		}
	}
}
