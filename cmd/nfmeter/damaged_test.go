package main

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// damagedFrame is a 104-byte Ethernet/IPv4/UDP frame of flow i.
func damagedFrame(i int) []byte {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(1 + i)}), 40000)
	dst := netip.MustParseAddrPort("10.2.1.1:53")
	return flowstest.UDP(src, dst, 104-42)
}

// damagedPcap is a classic pcap of 12 records of 104 bytes where the
// third record's header (at byte 24+2*120 = 264) claims 0x7ffffff0
// captured bytes; its data is the 104 bytes it really had.
func damagedPcap() []byte {
	frames := make([][]byte, 13)
	for i := range frames {
		frames[i] = damagedFrame(i)
	}
	b := pcapFile(1, frames, func(i int) (uint32, uint32) { return 1600000000, uint32(i * 1000) })
	binary.LittleEndian.PutUint32(b[264+8:], 0x7ffffff0)
	return b
}

// realLen asks ngBlock for the block's true length in its length field.
const realLen = 1

// ngBlock appends a little-endian pcapng block with the given body
// (a multiple of 4 bytes) and length field total (realLen: the true
// length, which the trailer always holds).
func ngBlock(b []byte, typ uint32, body []byte, total uint32) []byte {
	real := uint32(12 + len(body))
	if total == realLen {
		total = real
	}
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, real)
}

// ngEPB is the body of an Enhanced Packet Block on interface ifID with
// the given caplen field (0: the frame's length).
func ngEPB(ifID uint32, ms uint64, capLen uint32, frame []byte) []byte {
	us := 1600000000000000 + ms*1000
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, ifID)
	body = binary.LittleEndian.AppendUint32(body, uint32(us>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(us))
	if capLen == 0 {
		capLen = uint32(len(frame))
	}
	body = binary.LittleEndian.AppendUint32(body, capLen)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(frame)))
	body = append(body, frame...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	return body
}

// damagedPcapng is a pcapng file of 6 packets whose fourth block (at
// byte 28+20+2*136 = 320) is damaged by bad.
func damagedPcapng(bad func(b []byte, frame []byte) []byte) []byte {
	var shb []byte
	shb = binary.LittleEndian.AppendUint32(shb, 0x1a2b3c4d)
	shb = binary.LittleEndian.AppendUint16(shb, 1)
	shb = binary.LittleEndian.AppendUint16(shb, 0)
	shb = binary.LittleEndian.AppendUint64(shb, ^uint64(0))
	b := ngBlock(nil, 0x0a0d0d0a, shb, realLen)
	var idb []byte
	idb = binary.LittleEndian.AppendUint16(idb, 1)
	idb = binary.LittleEndian.AppendUint16(idb, 0)
	idb = binary.LittleEndian.AppendUint32(idb, 65535)
	b = ngBlock(b, 1, idb, realLen)
	for i := range 6 {
		if i == 2 {
			b = bad(b, damagedFrame(i))
			continue
		}
		b = ngBlock(b, 6, ngEPB(0, uint64(i), 0, damagedFrame(i)), realLen)
	}
	return b
}

// A damaged capture is read to its end: every record that can be found
// is metered, every skipped one counted in the summary, and the run warns
// once with the file, the first bad offset and its reason, and exits with
// exitDamaged.
func TestCLIDamagedInput(t *testing.T) {
	dir := t.TempDir()
	// lenField replaces the third packet's block with one whose length
	// field says total (its trailer keeps the real length).
	lenField := func(total uint32) func(b, f []byte) []byte {
		return func(b, f []byte) []byte { return ngBlock(b, 6, ngEPB(0, 2, 0, f), total) }
	}
	tests := []struct {
		name      string
		data      []byte
		packets   int    // packets metered
		lost      int    // records skipped
		wantWarn  string // reason of the first bad record
		wantBytes string // its offset
	}{
		{"pcap caplen 0x7ffffff0", damagedPcap(), 12, 1, "invalid capture length", "byte 264"},
		{"pcapng block length 0xfffffff0", damagedPcapng(lenField(0xfffffff0)), 5, 1, "block length 4294967280", "byte 320"},
		{"pcapng block length 0", damagedPcapng(lenField(0)), 5, 1, "block length 0", "byte 320"},
		{"pcapng caplen beyond its block", damagedPcapng(func(b, f []byte) []byte {
			return ngBlock(b, 6, ngEPB(0, 2, 2000, f), realLen)
		}), 5, 1, "too short", "byte 320"},
		{"pcapng unknown interface", damagedPcapng(func(b, f []byte) []byte {
			return ngBlock(b, 6, ngEPB(7, 2, 0, f), realLen)
		}), 5, 1, "undescribed interface", "byte 320"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".cap")
			if err := os.WriteFile(in, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := in + ".csv"
			code, _, stderr := runCLI("--pcap", in, "-o", out, "--progress", "never", "--n-dissections", "0")
			if code != exitDamaged {
				t.Errorf("exit %d, want %d (damaged input); stderr: %s", code, exitDamaged, stderr)
			}
			for _, w := range []string{in, tt.wantBytes, tt.wantWarn} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if n := strings.Count(stderr, "warning"); n != 1 {
				t.Errorf("%d warnings, want 1: %s", n, stderr)
			}
			for _, w := range []string{strconv.Itoa(tt.packets) + " packets", plural(uint64(tt.lost), "damaged record") + " skipped", strconv.Itoa(tt.packets) + " flows"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("summary %q lacks %q", stderr, w)
				}
			}
		})
	}
}

// A garbage first timestamp (sec = usec = 0xffffffff: -1 s -1 us, which
// NFStream's uint64 clock takes for year 584 million) pins the clock of
// the whole capture, as in NFStream; the run warns once, with the file and
// the record's offset, and the output keeps NFStream's values.
func TestCLIWildFirstTimestamp(t *testing.T) {
	frames := make([][]byte, 4)
	for i := range frames {
		frames[i] = damagedFrame(i % 2)
	}
	b := pcapFile(1, frames, func(i int) (uint32, uint32) {
		if i == 0 {
			return 0xffffffff, 0xffffffff
		}
		return 1600000000, uint32(i * 1000)
	})
	in := filepath.Join(t.TempDir(), "wild.pcap")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("--pcap", in, "-o", "-", "--progress", "never", "--n-dissections", "0")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stderr, "warning"); n != 1 {
		t.Errorf("%d warnings, want 1: %s", n, stderr)
	}
	for _, w := range []string{in, "byte 24", "out of range"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not mention %q", stderr, w)
		}
	}
	if !strings.Contains(out, ",18446744073709550616,") {
		t.Errorf("first_seen_ms should keep NFStream's value 18446744073709550616:\n%s", out)
	}
}
