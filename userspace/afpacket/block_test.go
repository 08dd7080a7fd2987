package afpacket

import (
	"bytes"
	"errors"
	"testing"
)

// testFrame describes a frame for buildBlock.
type testFrame struct {
	data           []byte // as the kernel stores it (VLAN tag taken out)
	wireLen        uint32 // 0: len(data)
	status         uint32
	tci            uint32
	tpid           uint16
	pktType        uint8
	sec, nsec      uint32
	mac            uint16 // 0: the offset the kernel uses with PACKET_RESERVE 4
	next           uint32 // 0: computed
	forceNextValue bool
}

// buildBlock lays frames out in a block the way the kernel does.
func buildBlock(size int, frames []testFrame) []byte {
	b := make([]byte, size)
	ne.PutUint32(b[blockStatusOff:], statusUser)
	ne.PutUint32(b[blockNumPktsOff:], uint32(len(frames)))
	ne.PutUint32(b[blockFirstPktOff:], blockHdrLen)
	off := blockHdrLen
	for i, f := range frames {
		mac := int(f.mac)
		if mac == 0 {
			mac = (frameHdrRoom+15)&^15 + 16 + vlanTagLen - 14 // netoff - maclen, as packet_rcv computes it
		}
		wire := f.wireLen
		if wire == 0 {
			wire = uint32(len(f.data))
		}
		h := b[off:]
		ne.PutUint32(h[frameSecOff:], f.sec)
		ne.PutUint32(h[frameNsecOff:], f.nsec)
		ne.PutUint32(h[frameSnapOff:], uint32(len(f.data)))
		ne.PutUint32(h[frameLenOff:], wire)
		ne.PutUint32(h[frameStatusOff:], f.status)
		ne.PutUint16(h[frameMacOff:], uint16(mac))
		ne.PutUint32(h[frameTCIOff:], f.tci)
		ne.PutUint16(h[frameTPIDOff:], f.tpid)
		h[framePktType] = f.pktType
		copy(h[mac:], f.data)
		next := uint32((mac + len(f.data) + 15) &^ 15)
		if f.next != 0 || f.forceNextValue {
			next = f.next
		}
		if i == len(frames)-1 && !f.forceNextValue {
			next = 0
		}
		ne.PutUint32(h[frameNextOff:], next)
		off += int(next)
	}
	return b
}

func seq(n int, from byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

func readAll(blk []byte, snaplen uint32, vlan bool) ([]frame, error) {
	r := blockReader{snaplen: snaplen, vlan: vlan}
	if err := r.reset(blk); err != nil {
		return nil, err
	}
	var out []frame
	for r.left > 0 {
		var f frame
		if err := r.read(&f); err != nil {
			return out, err
		}
		f.data = append([]byte(nil), f.data...)
		out = append(out, f)
	}
	return out, nil
}

func TestBlockReader(t *testing.T) {
	eth := seq(60, 1)
	tagged := append(append(append([]byte(nil), eth[:12]...), 0x81, 0x00, 0x20, 0x07), eth[12:]...)
	qinq := append(append(append([]byte(nil), eth[:12]...), 0x88, 0xa8, 0x00, 0x05), eth[12:]...)
	for _, tc := range []struct {
		name    string
		frames  []testFrame
		snaplen uint32
		vlan    bool
		want    [][]byte
		wire    []uint32
	}{
		{"empty", nil, MaxSnaplen, true, nil, nil},
		{"plain", []testFrame{{data: eth}, {data: seq(1500, 7)}}, MaxSnaplen, true, [][]byte{eth, seq(1500, 7)}, []uint32{60, 1500}},
		{"cut by the kernel", []testFrame{{data: eth[:20], wireLen: 60}}, 20, true, [][]byte{eth[:20]}, []uint32{60}},
		{"vlan tag put back", []testFrame{{data: eth, tci: 0x2007, status: statusVLANValid}}, MaxSnaplen, true, [][]byte{tagged}, []uint32{64}},
		{"vlan 0 with valid flag", []testFrame{{data: eth, status: statusVLANValid}}, MaxSnaplen, true,
			[][]byte{append(append(append([]byte(nil), eth[:12]...), 0x81, 0x00, 0, 0), eth[12:]...)}, []uint32{64}},
		{"802.1ad tpid", []testFrame{{data: eth, tci: 5, tpid: 0x88a8, status: statusVLANValid | statusVLANTPIDValid}}, MaxSnaplen, true, [][]byte{qinq}, []uint32{64}},
		{"vlan then snaplen", []testFrame{{data: eth[:20], wireLen: 60, tci: 0x2007, status: statusVLANValid}}, 20, true, [][]byte{tagged[:20]}, []uint32{64}},
		{"no tag on raw ip", []testFrame{{data: eth, tci: 0x2007, status: statusVLANValid}}, MaxSnaplen, false, [][]byte{eth}, []uint32{60}},
		{"no tag in a runt", []testFrame{{data: eth[:11], tci: 0x2007, status: statusVLANValid}}, MaxSnaplen, true, [][]byte{eth[:11]}, []uint32{11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(buildBlock(4096, tc.frames), tc.snaplen, tc.vlan)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i].data, tc.want[i]) || got[i].wireLen != tc.wire[i] {
					t.Errorf("frame %d: %x (wire %d), want %x (wire %d)", i, got[i].data, got[i].wireLen, tc.want[i], tc.wire[i])
				}
			}
		})
	}
}

func TestBlockReaderCorrupt(t *testing.T) {
	good := []testFrame{{data: seq(60, 0)}, {data: seq(60, 0)}}
	for _, tc := range []struct {
		name  string
		block func() []byte
	}{
		{"short block", func() []byte { return make([]byte, 10) }},
		{"first frame before the header", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint32(b[blockFirstPktOff:], 8)
			return b
		}},
		{"first frame past the end", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint32(b[blockFirstPktOff:], 4090)
			return b
		}},
		{"more frames than written", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint32(b[blockNumPktsOff:], 1000)
			return b
		}},
		{"data past the end", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint32(b[blockHdrLen+frameSnapOff:], 5000)
			return b
		}},
		{"mac inside the header", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint16(b[blockHdrLen+frameMacOff:], 10)
			return b
		}},
		{"next offset zero", func() []byte {
			return buildBlock(4096, []testFrame{{data: seq(60, 0), forceNextValue: true}, {data: seq(60, 0)}})
		}},
		{"next offset past the end", func() []byte {
			b := buildBlock(4096, good)
			ne.PutUint32(b[blockHdrLen+frameNextOff:], 1<<30)
			return b
		}},
		{"no room for the tag", func() []byte {
			return buildBlock(4096, []testFrame{{data: seq(60, 0), mac: frameHdrRoom, tci: 1, status: statusVLANValid}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.block(), MaxSnaplen, true)
			if !errors.Is(err, ErrCorruptRing) {
				t.Fatalf("error %v, want ErrCorruptRing", err)
			}
		})
	}
}

// Whatever the kernel's headers say, reading a block ends, with frames
// inside the block or an error, and never faults.
func FuzzBlockReader(f *testing.F) {
	f.Add(buildBlock(512, []testFrame{{data: seq(60, 0), tci: 3, status: statusVLANValid}, {data: seq(100, 0)}}), uint32(64), true)
	f.Add(buildBlock(256, []testFrame{{data: seq(20, 0), mac: 200}}), uint32(MaxSnaplen), false)
	f.Add(make([]byte, 48), uint32(1), true)
	f.Fuzz(func(t *testing.T, blk []byte, snaplen uint32, vlan bool) {
		if snaplen == 0 {
			snaplen = MaxSnaplen
		}
		r := blockReader{snaplen: snaplen, vlan: vlan}
		if r.reset(blk) != nil {
			return
		}
		for n := 0; r.left > 0; n++ {
			if n > len(blk)/frameHdrRoom+1 {
				t.Fatalf("%d frames from a %d-byte block", n, len(blk))
			}
			var fr frame
			if r.read(&fr) != nil {
				return
			}
			if uint32(len(fr.data)) > snaplen || len(fr.data) > len(blk) {
				t.Fatalf("%d-byte frame (snaplen %d) from a %d-byte block", len(fr.data), snaplen, len(blk))
			}
		}
	})
}

func TestRingGeometry(t *testing.T) {
	for _, tc := range []struct {
		buf, snap   int
		bsize, nblk int
	}{
		{DefaultBufferSize, MaxSnaplen, 1 << 20, 8},
		{2 << 20, 1536, 256 << 10, 8},
		{64 << 20, 1536, 1 << 20, 64},
		{8192, 1536, 4096, 2},
		{1, 1536, 4096, 2},
		{1 << 20, MaxSnaplen, 128 << 10, 8},
		{100 << 10, 9000, 16 << 10, 7},
	} {
		bs, n := ringGeometry(tc.buf, tc.snap, 4096)
		if bs != tc.bsize || n != tc.nblk {
			t.Errorf("ringGeometry(%d, %d) = %d x %d, want %d x %d", tc.buf, tc.snap, n, bs, tc.nblk, tc.bsize)
		}
	}
}
