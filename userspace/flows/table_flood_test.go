package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// floodKeys returns n IPv6 UDP keys that all have the same [Key.Hash], built
// from its code: with the ports, the protocol and the /64 halves fixed, the
// hash state before the last word is a function s(lo1) of the source
// interface id alone, and the last step only depends on s(lo1) XOR hi1. A
// destination interface id hi1 = s(lo1) ^ c therefore gives every key the
// same hash, whatever lo1 is. An attacker can send such packets (source and
// destination inside two /64s it reaches) without knowing anything about the
// meter.
func floodKeys(n int) []Decoded {
	const m = 0x9e3779b97f4a7c15
	mix := func(h, v uint64) uint64 {
		hi, lo := bits.Mul64(h^v, m)
		return hi ^ lo
	}
	var src, dst [16]byte
	copy(src[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0})
	copy(dst[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0})
	d := Decoded{Src: src, Dst: dst, SrcPort: 5353, DstPort: 53, Protocol: 17, IPVersion: 6}
	k, _ := keyOf(&d) // src sorts first, so it is lo
	h3 := mix(mix(mix(m, k.meta), k.lo0), k.hi0)
	out := make([]Decoded, n)
	for i := range out {
		lo1 := uint64(i + 1)
		hi1 := mix(h3, lo1) ^ 0x5eed
		d.Src, d.Dst = src, dst
		binary.BigEndian.PutUint64(d.Src[8:], lo1)
		binary.BigEndian.PutUint64(d.Dst[8:], hi1)
		out[i] = d
	}
	return out
}

// randomKeys returns n IPv6 UDP keys with random interface ids, the flood's
// shape without its choice.
func randomKeys(n int) []Decoded {
	r := rand.New(rand.NewPCG(1, 2))
	out := floodKeys(n)
	for i := range out {
		binary.BigEndian.PutUint64(out[i].Src[8:], r.Uint64())
		binary.BigEndian.PutUint64(out[i].Dst[8:], r.Uint64())
	}
	return out
}

// probes meters one packet of each of ds as the meter keys them and
// returns the table's total probe count: the sum over the flows of the
// slots a lookup of that flow visits (its distance from its home slot,
// plus one).
func probes(tb testing.TB, ds []Decoded) int {
	tb.Helper()
	t := newTable(0)
	for i := range ds {
		var kp keyedPacket
		kp.d = ds[i]
		kp.keyed(1)
		if t.get(kp.h, &kp.k) != nil {
			tb.Fatalf("key %d is a duplicate", i)
		}
		t.insert(&Flow{key: kp.k, srcLo: kp.srcIsLo, hash: kp.h})
	}
	total := 0
	for i, s := range t.slots {
		if s.f != nil {
			total += int((uint64(i)-s.hash)&t.mask) + 1
		}
	}
	return total
}

func TestFloodKeysCollide(t *testing.T) {
	ds := floodKeys(100)
	k0, _ := keyOf(&ds[0])
	for i := range ds {
		k, _ := keyOf(&ds[i])
		if k == k0 && i > 0 {
			t.Fatalf("key %d repeats key 0", i)
		}
		if k.Hash() != k0.Hash() {
			t.Fatalf("key %d: Hash %#x, key 0 %#x", i, k.Hash(), k0.Hash())
		}
	}
}

// Chosen 5-tuples must not cluster in the flow table (hash flooding): the
// keys that collide under the fixed [Key.Hash] cost the table at most twice
// the probes of random keys.
func TestTableResistsHashFlooding(t *testing.T) {
	const n = 20000
	crafted, random := probes(t, floodKeys(n)), probes(t, randomKeys(n))
	t.Logf("total probes for %d flows: crafted %d, random %d", n, crafted, random)
	if crafted > 2*random {
		t.Errorf("crafted flows cost %d probes, random ones %d: more than twice", crafted, random)
	}
}

// Key.Hash picks nDPI and assembler shards, so it must not change between
// runs or releases (reproducible output), unlike the table's seeded hash.
func TestKeyHashFixed(t *testing.T) {
	tests := []struct {
		name string
		d    Decoded
		want uint64
	}{
		{"ipv4", Decoded{SrcPort: 51234, DstPort: 443, Protocol: 6, IPVersion: 4,
			Src: [16]byte{10, 0, 0, 1}, Dst: [16]byte{93, 184, 216, 34}}, 0xcb75ad87b681d279},
		{"ipv6", Decoded{SrcPort: 5353, DstPort: 53, Protocol: 17, IPVersion: 6,
			Src: [16]byte{0x20, 1, 0xd, 0xb8, 15: 1}, Dst: [16]byte{0x20, 1, 0xd, 0xb8, 15: 2}}, 0xba458296380b08e8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := keyOf(&tt.d)
			if got := k.Hash(); got != tt.want {
				t.Errorf("Hash = %#x, want %#x", got, tt.want)
			}
			if k.tableHash() == k.Hash() {
				t.Error("the table hash is the unkeyed hash")
			}
		})
	}
}
