package pcapreplay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// damagedPcap is 13 records of 104 bytes whose third record header, at
// byte 264, claims 0x7ffffff0 captured bytes.
func damagedPcap() []byte {
	b := newLEPcap(65535, 1)
	for i := range 13 {
		b.record(1600000000, uint32(i), 104, payload(104))
	}
	data := b.bytes()
	binary.LittleEndian.PutUint32(data[264+8:], 0x7ffffff0)
	return data
}

// damagedPcapng is 6 packet blocks of 136 bytes whose third one, at byte
// 320, has its length field replaced by total.
func damagedPcapng(total uint32) []byte {
	b := newNg(binary.LittleEndian).idb(1, 65535)
	for i := range 6 {
		b.epb(0, uint64(i), 104, payload(104))
	}
	data := b.bytes()
	binary.LittleEndian.PutUint32(data[320+4:], total)
	return data
}

// readOffsets reads data and returns how many packets came, and the
// offset and cause of each error.
func readOffsets(t *testing.T, data []byte, opts Options) (packets int, errs []*ReadError) {
	t.Helper()
	r, err := newReader(bytes.NewReader(data), "damaged", int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	for range 10000 {
		err := r.Next(&p)
		if err == io.EOF {
			return packets, errs
		}
		if re, ok := errors.AsType[*ReadError](err); ok {
			errs = append(errs, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		packets++
	}
	t.Fatal("no io.EOF")
	return 0, nil
}

// With Resync, a header with an impossible length costs its own record
// only, and the one error names that header's offset; without it the
// reader loses step as libpcap does.
func TestResync(t *testing.T) {
	tests := []struct {
		name       string
		data       []byte
		packets    int
		wantErr    error
		wantOffset int64
	}{
		{"pcap caplen 0x7ffffff0", damagedPcap(), 12, ErrCapLen, 264},
		{"pcapng block length 0xfffffff0", damagedPcapng(0xfffffff0), 5, ErrMalformed, 320},
		{"pcapng block length 0", damagedPcapng(0), 5, ErrMalformed, 320},
		{"pcapng block length 6", damagedPcapng(6), 5, ErrMalformed, 320},
		{"pcapng length differs from trailer", damagedPcapng(140), 5, ErrMalformed, 320},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, errs := readOffsets(t, tt.data, Options{Resync: true})
			if n != tt.packets || len(errs) != 1 {
				t.Fatalf("%d packets, %d errors %v; want %d packets and 1 error", n, len(errs), errs, tt.packets)
			}
			if e := errs[0]; e.Offset != tt.wantOffset || !errors.Is(e, tt.wantErr) || !e.Recoverable() {
				t.Errorf("error %v (recoverable %v), want %v at byte %d", e, e.Recoverable(), tt.wantErr, tt.wantOffset)
			}
			n0, errs0 := readOffsets(t, tt.data, Options{})
			if n0 >= n && len(errs0) == 1 {
				t.Errorf("libpcap mode read %d packets and %d errors: the case does not lose step", n0, len(errs0))
			}
			if len(errs0) == 0 || errs0[0].Offset != tt.wantOffset {
				t.Errorf("libpcap mode: first error %v, want one at byte %d", errs0, tt.wantOffset)
			}
		})
	}
}
