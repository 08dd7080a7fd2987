package flows

import (
	"net/netip"
	"testing"
	"unsafe"
)

// The per-flow footprint matters with millions of concurrent flows.
func TestFlowSize(t *testing.T) {
	if s := unsafe.Sizeof(Flow{}); s > 240 {
		t.Errorf("Flow is %d bytes, want at most 240 (a Go size class)", s)
	}
}

func TestTableInsertRemove(t *testing.T) {
	tb := newTable(0)
	var fs []*Flow
	for i := range 5000 {
		k := Key{lo0: uint64(i) << 32, meta: uint64(i)<<48 | 4<<4}
		f := &Flow{key: k}
		f.hash = k.Hash() & 0xff // force collisions and long probe runs
		tb.insert(f)
		fs = append(fs, f)
	}
	for i, f := range fs {
		if i%3 == 0 {
			tb.remove(f)
		}
	}
	for i, f := range fs {
		got := tb.get(f.hash, &f.key)
		if (i%3 == 0) != (got == nil) || (got != nil && got != f) {
			t.Fatalf("flow %d: get returned %p, want present=%v", i, got, i%3 != 0)
		}
	}
	n := 0
	var prev *Flow
	for f := tb.head; f != nil; f = f.next {
		if f.prev != prev {
			t.Fatal("broken back link")
		}
		prev = f
		n++
	}
	if n != tb.len() || n != 5000-1667 {
		t.Fatalf("list has %d flows, table %d", n, tb.len())
	}
}

// Clients of one /16 on sequential ephemeral ports must not collide.
func TestKeyHashSpreads(t *testing.T) {
	seen := make(map[uint64]bool)
	n := 0
	for a := range 256 {
		for port := 32768; port < 33268; port++ {
			d := Decoded{SrcPort: uint16(port), DstPort: 443, Protocol: 6, IPVersion: 4,
				Src: [16]byte{10, 0, byte(a), byte(port)}, Dst: [16]byte{93, 184, 216, 34}}
			k, _ := keyOf(&d)
			seen[k.Hash()] = true
			n++
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct hashes for %d keys", len(seen), n)
	}
}

// Reference strings are glibc inet_ntop results.
func TestFormatAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3.4", "1.2.3.4"},
		{"::", "::"},
		{"::1", "::1"},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"::1.2.3.4", "::1.2.3.4"},
		{"::0.0.1.2", "::102"},
		{"::ffff:0.0.1.2", "::ffff:0.0.1.2"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},
		{"fe80::1:0:0:1", "fe80::1:0:0:1"},
		{"2001:0:0:1::", "2001:0:0:1::"},
		{"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
		{"0:0:1::", "0:0:1::"},
	}
	for _, tt := range tests {
		if got := FormatAddr(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("FormatAddr(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
