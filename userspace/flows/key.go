package flows

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Key identifies a bidirectional flow: both endpoints in a canonical order,
// the protocol, the innermost VLAN id and the tunnel id. It is a small
// comparable value with no pointers. The zero Key matches no packet.
type Key struct {
	lo, hi         [16]byte // lo sorts before hi (address, then port)
	loPort, hiPort uint16
	vlan           uint16
	proto          uint8
	ipv            uint8
	tunnel         uint8
}

// keyOf builds the canonical key of a decoded packet and reports whether
// the packet's source is the key's lo endpoint.
func keyOf(d *Decoded) (k Key, srcIsLo bool) {
	c := bytes.Compare(d.Src[:], d.Dst[:])
	srcIsLo = c < 0 || (c == 0 && d.SrcPort <= d.DstPort)
	if srcIsLo {
		k.lo, k.hi, k.loPort, k.hiPort = d.Src, d.Dst, d.SrcPort, d.DstPort
	} else {
		k.lo, k.hi, k.loPort, k.hiPort = d.Dst, d.Src, d.DstPort, d.SrcPort
	}
	k.vlan, k.proto, k.ipv, k.tunnel = d.VLANID, d.Protocol, d.IPVersion, d.TunnelID
	return k, srcIsLo
}

func (k *Key) addr(lo bool) netip.Addr {
	a := &k.hi
	if lo {
		a = &k.lo
	}
	if k.ipv == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// Hash returns a 64-bit hash of the key, the same for both directions.
// Every field goes through its own multiply-fold step, so ports never
// cancel address bits (clients of one subnet on ephemeral ports).
func (k *Key) Hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	mix := func(h, v uint64) uint64 {
		hi, lo := bits.Mul64(h^v, m)
		return hi ^ lo
	}
	h := mix(m, uint64(k.proto)<<56|uint64(k.ipv)<<48|uint64(k.tunnel)<<40|uint64(k.vlan)<<24|uint64(k.loPort)<<16|uint64(k.hiPort))
	h = mix(h, binary.LittleEndian.Uint64(k.lo[0:]))
	h = mix(h, binary.LittleEndian.Uint64(k.hi[0:]))
	if k.ipv == 6 {
		h = mix(h, binary.LittleEndian.Uint64(k.lo[8:]))
		h = mix(h, binary.LittleEndian.Uint64(k.hi[8:]))
	}
	return h
}

// NFStreamHash is the 32-bit hash NFStream uses to spread flows over meters
// (spec §2.3). It is kept for compatibility tooling; nfmeter's own output
// does not depend on it.
func (k *Key) NFStreamHash() uint32 {
	a := func(ip *[16]byte) uint32 {
		if k.ipv == 4 {
			return binary.LittleEndian.Uint32(ip[0:])
		}
		return binary.LittleEndian.Uint32(ip[8:]) + binary.LittleEndian.Uint32(ip[12:])
	}
	return uint32(k.proto) + uint32(k.vlan) + a(&k.lo) + a(&k.hi) + uint32(k.loPort) + uint32(k.hiPort) + uint32(k.tunnel)
}

// Src returns the lo endpoint of the key.
func (k Key) Lo() netip.AddrPort { return netip.AddrPortFrom(k.addr(true), k.loPort) }

// Hi returns the hi endpoint of the key.
func (k Key) Hi() netip.AddrPort { return netip.AddrPortFrom(k.addr(false), k.hiPort) }
