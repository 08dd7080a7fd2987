package capgen

import (
	"fmt"
	"io"
)

// Demo capture parameters.
const (
	demoSeed       = 2024
	demoConcurrent = 3    // flows open at a time
	demoMaxGapUs   = 4000 // largest gap between packets, µs
)

// demoSpecs is the demo's flows in start order.
func demoSpecs() []spec {
	return []spec{
		{kind: kindDNS, n: 1},
		{kind: kindTCP, port: 80, bits: bitTSOpt, n: 12},
		{kind: kindDNS, n: 2},
		{kind: kindTCP, port: 443, bits: bitTSOpt, n: 14},
		{kind: kindICMP, n: 4},
		{kind: kindDNS, n: 1},
		{kind: kindTCP, port: 443, bits: bitTSOpt | bitV6, n: 14},
		{kind: kindDNS, bits: bitV6, n: 1},
		{kind: kindQUIC, n: 8},
		{kind: kindDNS, n: 1},
		{kind: kindTCP, port: 22, bits: bitTSOpt | bitInteractive, n: 30},
		{kind: kindTCPRefused, port: 8080, bits: bitTSOpt},
		{kind: kindTCP, port: 443, bits: bitVLAN, n: 12},
		{kind: kindRTP, n: 40},
		{kind: kindTCP, port: 80, bits: bitTSOpt | bitUpload | bitRST, n: 10},
		{kind: kindICMP, bits: bitV6, n: 3},
		{kind: kindDNS, bits: bitVLAN, n: 1},
		{kind: kindICMP, n: 3},
		{kind: kindTCP, port: 993, bits: bitTSOpt, n: 10},
	}
}

// WriteDemo writes the small capture shipped as nfmeter's demo sample:
// a few hundred packets (under 100 KB) of varied traffic with realistic
// gaps: DNS lookups, HTTP, TLS and SSH connections with handshakes and
// teardowns (one refused, one reset), a QUIC stream, an RTP call, IPv4 and
// IPv6 pings, an IPv6 TLS connection and VLAN-tagged flows. Its bytes
// never change.
func WriteDemo(w io.Writer) error {
	g := newGen(w, demoSeed, 0, DefaultMeanPackets)
	specs := demoSpecs()
	active := make([]flow, 0, demoConcurrent)
	g.us = defaultStart().UnixMicro()
	for next := 0; (next < len(specs) || len(active) > 0) && g.pw.err == nil; {
		for len(active) < demoConcurrent && next < len(specs) {
			active = append(active, flow{})
			g.start(&active[len(active)-1], specs[next])
			next++
		}
		i := g.r.intn(len(active))
		g.us += int64(50 + g.r.intn(demoMaxGapUs))
		g.emit(&active[i])
		if active[i].done() {
			copy(active[i:], active[i+1:])
			active = active[:len(active)-1]
		}
	}
	g.pw.flush()
	if g.pw.err != nil {
		return fmt.Errorf("demo capture: %w", g.pw.err)
	}
	return nil
}
