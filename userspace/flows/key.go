package flows

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Key identifies a bidirectional flow: both endpoints in a canonical order,
// the protocol, the innermost VLAN id and the tunnel id. It is five machine
// words with no pointers, so that comparing, hashing and copying it are a
// handful of instructions. The zero Key matches no packet.
type Key struct {
	// lo sorts before (or equals) hi, comparing address then port.
	// Addresses are big-endian halves: IPv4 in the top 32 bits of lo0/hi0.
	lo0, lo1, hi0, hi1 uint64
	// meta packs loPort<<48 | hiPort<<32 | vlan<<16 | proto<<8 | ipv<<4 | tunnel.
	meta uint64
}

func (k *Key) loPort() uint16 { return uint16(k.meta >> 48) }
func (k *Key) hiPort() uint16 { return uint16(k.meta >> 32) }
func (k *Key) vlan() uint16   { return uint16(k.meta >> 16) }
func (k *Key) proto() uint8   { return uint8(k.meta >> 8) }
func (k *Key) ipv() uint8     { return uint8(k.meta>>4) & 0xf }
func (k *Key) tunnel() uint8  { return uint8(k.meta) & 0xf }

// keyOf builds the canonical key of a decoded packet and reports whether
// the packet's source is the key's lo endpoint.
func keyOf(d *Decoded) (k Key, srcIsLo bool) {
	s0, s1 := binary.BigEndian.Uint64(d.Src[0:]), binary.BigEndian.Uint64(d.Src[8:])
	d0, d1 := binary.BigEndian.Uint64(d.Dst[0:]), binary.BigEndian.Uint64(d.Dst[8:])
	switch {
	case s0 != d0:
		srcIsLo = s0 < d0
	case s1 != d1:
		srcIsLo = s1 < d1
	default:
		srcIsLo = d.SrcPort <= d.DstPort
	}
	lp, hp := d.SrcPort, d.DstPort
	if srcIsLo {
		k.lo0, k.lo1, k.hi0, k.hi1 = s0, s1, d0, d1
	} else {
		k.lo0, k.lo1, k.hi0, k.hi1 = d0, d1, s0, s1
		lp, hp = hp, lp
	}
	k.meta = uint64(lp)<<48 | uint64(hp)<<32 | uint64(d.VLANID)<<16 | uint64(d.Protocol)<<8 |
		uint64(d.IPVersion&0xf)<<4 | uint64(d.TunnelID&0xf)
	return k, srcIsLo
}

func (k *Key) addr(lo bool) netip.Addr {
	a0, a1 := k.hi0, k.hi1
	if lo {
		a0, a1 = k.lo0, k.lo1
	}
	if k.ipv() == 4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(a0>>32))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:], a0)
	binary.BigEndian.PutUint64(b[8:], a1)
	return netip.AddrFrom16(b)
}

// Hash returns a 64-bit hash of the key, the same for both directions and
// in every process, which makes it the hash that picks a key's shard (nDPI
// modules, kernel-side assemblers): output must not depend on the run. It is
// unkeyed, so whoever sends the packets can choose keys that share a hash;
// the flow table uses [Key.tableHash] instead. Every word goes through its
// own multiply-fold step, so ports never cancel address bits (clients of one
// subnet on ephemeral ports).
func (k *Key) Hash() uint64 { return k.hashFrom(hashMul) }

// tableHash is the hash of the flow table's slots: [Key.Hash]'s steps
// started from this process's secret seed, so that the slots of chosen keys
// cannot be predicted (hash flooding: keys sharing a slot make every lookup
// walk all of them). It costs what Key.Hash costs.
func (k *Key) tableHash() uint64 { return k.hashFrom(tableSeed) }

const hashMul = 0x9e3779b97f4a7c15

// tableSeed is drawn once per process from the operating system's random
// source and never changes, so that the decoders, which hash packets ahead
// of the meter, and every table agree on it.
var tableSeed = func() uint64 {
	var b [8]byte
	rand.Read(b[:]) // never fails (it crashes the program instead)
	return binary.LittleEndian.Uint64(b[:])
}()

func (k *Key) hashFrom(seed uint64) uint64 {
	mix := func(h, v uint64) uint64 {
		hi, lo := bits.Mul64(h^v, hashMul)
		return hi ^ lo
	}
	h := mix(seed, k.meta)
	h = mix(h, k.lo0)
	h = mix(h, k.hi0)
	if k.lo1|k.hi1 != 0 {
		h = mix(h, k.lo1)
		h = mix(h, k.hi1)
	}
	return h
}

// Lo returns the endpoint that sorts first.
func (k Key) Lo() netip.AddrPort { return netip.AddrPortFrom(k.addr(true), k.loPort()) }

// Hi returns the endpoint that sorts last.
func (k Key) Hi() netip.AddrPort { return netip.AddrPortFrom(k.addr(false), k.hiPort()) }

// Protocol returns the IP protocol number.
func (k Key) Protocol() uint8 { return k.proto() }
