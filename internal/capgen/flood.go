package capgen

import (
	"io"
	"math/bits"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Addresses of the flood: two /64s, the sender's and the target's.
const (
	floodSrcPrefix = 0x2001_0db8_00f1_0001 // 2001:db8:f1:1::/64
	floodDstPrefix = 0x2001_0db8_00f1_0002 // 2001:db8:f1:2::/64
	floodSrcPort   = 40000
	floodDstPort   = 53
	floodPayload   = 16
)

// FloodInterfaceIDs returns the source and destination interface ids (the
// low 64 bits of the addresses in 2001:db8:f1:1::/64 and 2001:db8:f1:2::/64)
// of n distinct IPv6 UDP flows from port 40000 to port 53.
//
// With crafted set, the flows are the ones an attacker who read
// [flows.Key.Hash] would send to flood a flow table indexed by it: all n
// keys share one hash value. Key.Hash mixes the words of the key one after
// the other, so with everything but the interface ids fixed, its state
// before the last word is a function s(src) of the source id alone, and the
// last step depends on s(src) XOR dst only; dst = s(src) XOR c gives every
// flow the same hash. Without crafted, the ids are pseudo-random (seed),
// the same flows' shape without the choice.
func FloodInterfaceIDs(n int, crafted bool, seed int64) (src, dst []uint64) {
	src, dst = make([]uint64, n), make([]uint64, n)
	if !crafted {
		r := newRNG(seed)
		for i := range n {
			src[i], dst[i] = r.next(), r.next()
		}
		return src, dst
	}
	// The state before the interface ids is the hash of the key with both
	// ids zero, where Key.Hash stops.
	var lo, hi [16]byte
	be.PutUint64(lo[:], floodSrcPrefix)
	be.PutUint64(hi[:], floodDstPrefix)
	k := flows.MakeKey(lo, hi, floodSrcPort, floodDstPort, 0, protoUDP, 6, flows.TunnelNone)
	state := k.Hash()
	for i := range n {
		src[i] = uint64(i) + 1
		dst[i] = hashStep(state, src[i]) ^ 0xf100d
	}
	return src, dst
}

// hashStep is one word of [flows.Key.Hash] (a multiply-fold step);
// TestFloodCollides catches a divergence.
func hashStep(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// WriteFlood writes a classic pcap (Ethernet) of n one-packet IPv6 UDP flows
// with the interface ids of [FloodInterfaceIDs], one packet per
// microsecond from the default start time, so that every flow is still in
// a meter's table when the capture ends.
func WriteFlood(w io.Writer, n int, crafted bool, seed int64) error {
	src, dst := FloodInterfaceIDs(n, crafted, seed)
	pw := newPcapWriter(w, 0)
	us := defaultStart().UnixMicro()
	for i := range n {
		b := pw.frame()
		putGatewayMAC(b[0:6])
		b[6], b[7], b[8], b[9], b[10], b[11] = 0x02, 0, 0xf1, 0, 0, 1
		be.PutUint16(b[12:], 0x86dd)
		ip := b[etherLen : etherLen+ipv6Len]
		be.PutUint32(ip[0:], 6<<28)
		be.PutUint16(ip[4:], udpLen+floodPayload)
		ip[6], ip[7] = protoUDP, 64
		be.PutUint64(ip[8:], floodSrcPrefix)
		be.PutUint64(ip[16:], src[i])
		be.PutUint64(ip[24:], floodDstPrefix)
		be.PutUint64(ip[32:], dst[i])
		l4 := etherLen + ipv6Len
		putUDP(b[l4:], floodSrcPort, floodDstPort, floodPayload)
		clear(b[l4+udpLen : l4+udpLen+floodPayload])
		pw.commit(us+int64(i), l4+udpLen+floodPayload)
		if pw.err != nil {
			break
		}
	}
	pw.flush()
	return pw.err
}
