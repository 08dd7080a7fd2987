package pcapreplay

import (
	"encoding/binary"
)

// synthCase is a hand-made capture exercising one libpcap behaviour.
type synthCase struct {
	name string
	data []byte
}

// Byte orders, shortened for the case tables.
var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

// syntheticCases returns the hand-made edge-case captures shared by the
// unit tests, the libpcap oracle test and the fuzz seeds.
func syntheticCases() []synthCase {
	p60 := payload(60)
	return []synthCase{
		// Classic pcap.
		{"le-micro.pcap", newLEPcap(65535, 1).
			record(1700000000, 123456, 60, p60).
			record(1700000001, 999999, 1514, p60).bytes()},
		{"be-micro.pcap", newPcap(be, magicMicro, 2, 4, 65535, 1).
			record(1700000000, 123456, 60, p60).
			record(1700000002, 5, 60, p60).bytes()},
		{"le-nano.pcap", newPcap(le, magicNano, 2, 4, 65535, 1).
			record(1700000000, 123456789, 60, p60).
			record(1700000000, 999, 60, p60).
			record(1700000000, 0xfffffc17, 60, p60). // -1001 ns
			bytes()},
		{"be-nano.pcap", newPcap(be, magicNano, 2, 4, 65535, 1).
			record(1700000000, 999999999, 60, p60).bytes()},
		{"negative-ts.pcap", newLEPcap(65535, 1).
			record(0x74720bb5, 0xffea9138, 4093509168, p60).
			record(0x80000000, 0x80000000, 60, p60).bytes()},
		{"be-negative-ts.pcap", newPcap(be, magicMicro, 2, 4, 65535, 1).
			record(0x74720bb5, 0xffea9138, 60, p60).
			record(0x80000000, 0x80000000, 60, p60).bytes()},
		{"be-nano-negative.pcap", newPcap(be, magicNano, 2, 4, 65535, 1).
			record(0xfffffff0, 0xfffffc17, 60, p60).bytes()},
		{"snap-zero.pcap", newLEPcap(0, 1).record(1, 2, 70000, payload(70000)).bytes()},
		{"snap-huge.pcap", newLEPcap(268435708, 1).record(1, 2, 70000, payload(70000)).bytes()},
		{"snap-cut.pcap", newLEPcap(64, 1).
			record(1, 2, 100, payload(100)).
			record(3, 4, 60, p60).bytes()},
		{"caplen-over-max.pcap", newLEPcap(65535, 1).
			record(1, 2, 60, p60).
			recordLens(3, 4, 300000, 300000, newLEPcap(0, 0).record(5, 6, 60, p60).bytes()[24:]).
			record(7, 8, 60, p60).bytes()},
		{"dbus-big.pcap", newLEPcap(0, dltDBus).record(1, 2, 300000, payload(300000)).bytes()},
		{"version-2.2.pcap", newPcap(le, magicMicro, 2, 2, 65535, 1).
			recordLens(1, 2, 100, 60, p60).bytes()},
		{"version-2.3.pcap", newPcap(le, magicMicro, 2, 3, 65535, 1).
			recordLens(1, 2, 100, 60, p60).
			recordLens(3, 4, 60, 100, p60).bytes()},
		{"version-543.pcap", newPcap(le, magicMicro, 543, 0, 65535, 1).
			recordLens(1, 2, 100, 60, p60).bytes()},
		{"version-1.0.pcap", newPcap(le, magicMicro, 1, 0, 65535, 1).record(1, 2, 60, p60).bytes()},
		{"version-2.5.pcap", newPcap(le, magicMicro, 2, 5, 65535, 1).record(1, 2, 60, p60).bytes()},
		{"linktype-reserved.pcap", newLEPcap(65535, 0x00010001).record(1, 2, 60, p60).bytes()},
		{"linktype-fcs.pcap", newLEPcap(65535, 0x14000001).record(1, 2, 60, p60).bytes()},
		{"linktype-raw.pcap", newLEPcap(65535, 101).record(1, 2, 60, p60).bytes()},
		{"linktype-106.pcap", newLEPcap(65535, 106).record(1, 2, 60, p60).bytes()},
		{"linktype-113.pcap", newLEPcap(65535, 113).record(1, 2, 60, p60).bytes()},
		{"sll-can-be.pcap", newPcap(be, magicMicro, 2, 4, 65535, dltLinuxSLL).
			record(1, 2, 32, sllFrame(0x000c)).record(1, 2, 32, sllFrame(0x000d)).
			record(1, 2, 32, sllFrame(0x000e)).record(1, 2, 32, sllFrame(0x0800)).
			record(1, 2, 32, sllFrame(0x000c)[:19]).recordLens(1, 2, 32, 19, sllFrame(0x000c)).bytes()},
		{"sll-can-le.pcap", newLEPcap(65535, dltLinuxSLL).record(1, 2, 32, sllFrame(0x000c)).bytes()},
		{"sll2-can-be.pcapng", newNg(be).idb(dltLinuxSLL2, 0).
			epb(0, 1, 36, sll2Frame(0x000c)).epb(0, 1, 36, sll2Frame(0x000d)).
			epb(0, 1, 23, sll2Frame(0x000c)[:23]).bytes()},
		{"usb-be.pcap", newPcap(be, magicMicro, 2, 4, 65535, 189).record(1, 2, 80, payload(80)).bytes()},
		{"kuznetzov.pcap", newPcap(le, magicKuznetzov, 2, 4, 50, 1).
			recordLens(1, 2, 64, 64, append(make([]byte, 8), payload(64)...)).
			recordLens(3, 4, 60, 60, append(make([]byte, 8), p60...)).bytes()},
		{"trunc-header.pcap", newLEPcap(65535, 1).
			record(1, 2, 60, p60).raw(make([]byte, 10)).bytes()},
		{"trunc-data.pcap", newLEPcap(65535, 1).
			record(1, 2, 60, p60).recordLens(3, 4, 98, 98, payload(40)).bytes()},
		{"trunc-snap-cut.pcap", newLEPcap(64, 1).recordLens(3, 4, 98, 98, payload(80)).bytes()},
		{"short-file-header.pcap", newLEPcap(65535, 1).bytes()[:10]},
		{"header-only.pcap", newLEPcap(65535, 1).bytes()},
		{"garbage.pcap", []byte("hello, this is not a capture file\n")},
		{"tiny.pcap", []byte{0xd4, 0xc3}},
		{"crlf.pcapng", []byte("\n\r\r\n0")},

		// pcapng.
		{"ng-le.pcapng", ngTwoInterfaces(le)},
		{"ng-be.pcapng", ngTwoInterfaces(be)},
		{"ng-spb.pcapng", newNg(le).idb(1, 64).
			spb(100, payload(100)).spb(10, payload(12)).spb(80, payload(20)).bytes()},
		{"ng-spb-snap0.pcapng", newNg(le).idb(1, 0).spb(300000, payload(100)).spb(60, p60).bytes()},
		{"ng-pb.pcapng", newNg(be).idb(1, 0, tsresol(3)).pb(0, 1700000000123, 60, p60).bytes()},
		{"ng-sections.pcapng", newNg(le).idb(1, 0).idb(1, 0, tsresol(9)).
			epb(1, 1700000000123456789, 60, p60).
			shb(1, 0).idb(1, 0).epb(0, 1700000000123456, 60, p60).
			epb(1, 1700000000123456, 60, p60).
			idb(1, 0, ngOption{code: optTSResol, val: []byte{6, 6}}).
			epb(1, 1700000000123456789, 60, p60).bytes()},
		{"ng-linktype-mismatch.pcapng", newNg(le).idb(1, 0).idb(113, 0).
			epb(0, 1, 60, p60).epb(1, 2, 60, p60).epb(0, 3, 60, p60).bytes()},
		{"ng-raw-two-idb.pcapng", newNg(le).idb(101, 0).idb(101, 0).
			epb(0, 1, 60, p60).epb(1, 2, 60, p60).bytes()},
		{"ng-snaplen-mismatch.pcapng", newNg(le).idb(1, 0).idb(1, 262144).idb(1, 300000).idb(1, 1500).
			epb(1, 1, 60, p60).epb(2, 1, 60, p60).epb(3, 1, 60, p60).bytes()},
		{"ng-caplen-over-snap.pcapng", newNg(le).idb(1, 64).
			epb(0, 1, 100, payload(100)).epb(0, 2, 60, p60).bytes()},
		{"ng-caplen-over-max.pcapng", newNg(le).idb(1, 0).
			epb(0, 1, 300000, payload(300000)).epb(0, 2, 60, p60).bytes()},
		{"ng-unknown-blocks.pcapng", newNg(le).block(4, payload(20)).idb(1, 0).
			block(5, payload(28)).block(0x0bad, nil).block(0x40000bad, payload(9)).
			epb(0, 5, 60, p60).bytes()},
		{"ng-bad-trailer.pcapng", ngBadTrailer()},
		{"ng-bad-length.pcapng", newNg(le).idb(1, 0).epb(0, 1, 60, p60).
			raw(le.AppendUint32(le.AppendUint32(nil, 6), 13)).epb(0, 2, 60, p60).bytes()},
		{"ng-small-length.pcapng", newNg(le).idb(1, 0).
			raw(le.AppendUint32(le.AppendUint32(nil, 6), 8)).epb(0, 2, 60, p60).bytes()},
		{"ng-huge-block.pcapng", newNg(le).idb(1, 0).
			raw(le.AppendUint32(le.AppendUint32(nil, 6), 0x7ffffff0)).epb(0, 2, 60, p60).bytes()},
		{"ng-epb-short.pcapng", newNg(le).idb(1, 0).block(blockEPB, payload(12)).epb(0, 2, 60, p60).bytes()},
		{"ng-epb-caplen-beyond-block.pcapng", newNg(le).idb(1, 0).
			epbLens(0, 1, 200, 200, p60).epb(0, 2, 60, p60).bytes()},
		{"ng-unknown-interface.pcapng", newNg(le).idb(1, 0).epb(7, 1, 60, p60).epb(0, 2, 60, p60).bytes()},
		{"ng-trunc.pcapng", newNg(le).idb(1, 0).epb(0, 1, 60, p60).
			raw(newNg(le).epb(0, 2, 60, p60).bytes()[28:70]).bytes()},
		{"ng-trunc-header.pcapng", newNg(le).idb(1, 0).epb(0, 1, 60, p60).raw([]byte{6, 0, 0}).bytes()},
		{"ng-no-idb.pcapng", newNg(le).block(4, nil).bytes()},
		{"ng-epb-before-idb.pcapng", newNg(le).epb(0, 1, 60, p60).idb(1, 0).bytes()},
		{"ng-version-1.2.pcapng", newNg(le).shb(1, 2).idb(1, 0).epb(0, 1, 60, p60).bytes()[28:]},
		{"ng-version-1.1.pcapng", newNg(le).shb(1, 1).idb(1, 0).epb(0, 1, 60, p60).bytes()[28:]},
		{"ng-version-2.0.pcapng", newNg(le).shb(2, 0).idb(1, 0).epb(0, 1, 60, p60).bytes()[28:]},
		{"ng-shb-other-order.pcapng", newNg(le).idb(1, 0).epb(0, 1, 60, p60).
			raw(newNg(be).idb(1, 0).epb(0, 2, 60, p60).bytes()).epb(0, 3, 60, p60).bytes()},
		{"ng-shb-major-2.pcapng", newNg(le).idb(1, 0).shb(2, 0).idb(1, 0).epb(0, 3, 60, p60).bytes()},
		{"ng-shb-too-long.pcapng", shbTooLong()},
		{"ng-tsresol.pcapng", newNg(le).
			idb(1, 0, tsresol(0)).idb(1, 0, tsresol(3)).idb(1, 0, tsresol(19)).
			idb(1, 0, tsresol(0x80)).idb(1, 0, tsresol(0xbf)).idb(1, 0, tsresol(0x94)).
			epb(0, 1700000000, 60, p60).epb(1, 1700000000123, 60, p60).
			epb(2, 17000000001234567891, 60, p60).epb(3, 1700000000, 60, p60).
			epb(4, 0xffffffffffffffff, 60, p60).epb(5, 0x7fffffffffffffff, 60, p60).
			epb(4, 0x7fffffffffffffff, 60, p60).bytes()},
		{"ng-tsresol-bad.pcapng", newNg(le).idb(1, 0).
			idb(1, 0, tsresol(20)).idb(1, 0, tsresol(0xc0)).
			idb(1, 0, tsresol(6), tsresol(6)).
			epb(0, 1, 60, p60).bytes()},
		{"ng-tsoffset.pcapng", newNg(le).
			idb(1, 0, ngOption{code: optTSOffset, val: le.AppendUint64(nil, uint64(1<<63))}).
			idb(1, 0, ngOption{code: optTSOffset, val: le.AppendUint64(nil, ^uint64(99))}).
			epb(0, 1700000000123456, 60, p60).epb(1, 1700000000123456, 60, p60).bytes()},
		{"ng-option-trunc.pcapng", newNg(le).idb(1, 0, ngOption{code: 2, val: payload(8)}).
			raw(nil).bytes()},
		{"ng-first-idb-bad-option.pcapng", newNg(le).idb(1, 0, tsresol(99)).epb(0, 1, 60, p60).bytes()},
		{"ng-endofopt-len.pcapng", newNg(le).idb(1, 0, ngOption{code: 0, val: []byte{1}}).bytes()},
		{"ng-linktype-raw.pcapng", newNg(be).idb(101, 0).epb(0, 1, 60, p60).bytes()},
		{"ng-dbus.pcapng", newNg(le).idb(dltDBus, 0).epb(0, 1, 300000, payload(300000)).bytes()},
	}
}

// ngTwoInterfaces builds a pcapng file with interfaces of resolution
// 10^-9 (and an offset) and 2^-10, in the given byte order.
func ngTwoInterfaces(o appendOrder) []byte {
	b := newNg(o)
	b.idb(1, 65535, tsresol(9), b.tsoffset(100)).idb(1, 65535, tsresol(0x8a))
	return b.epb(0, 1700000000123456789, 60, payload(60)).
		epb(1, 1700000000<<10|1023, 70, payload(70)).
		epb(0, 999, 61, payload(61)).bytes()
}

// ngBadTrailer builds a pcapng file whose second EPB has a wrong trailer.
func ngBadTrailer() []byte {
	b := newNg(le).idb(1, 0).epb(0, 1, 60, payload(60)).epb(0, 2, 60, payload(60))
	le.PutUint32(b.buf[len(b.buf)-4:], 12)
	return b.epb(0, 3, 60, payload(60)).bytes()
}

// shbTooLong builds a pcapng file whose first SHB claims 2 MiB.
func shbTooLong() []byte {
	b := newNg(le).idb(1, 0).bytes()
	le.PutUint32(b[4:8], 2<<20)
	return b
}

// sllFrame returns a Linux cooked (SLL) frame with the given protocol and
// 16 more bytes, such as a SocketCAN header.
func sllFrame(proto uint16) []byte {
	f := be.AppendUint16(make([]byte, 14), proto)
	return append(f, payload(16)...)
}

// sll2Frame returns a Linux cooked v2 (SLL2) frame with the given protocol
// and 16 more bytes.
func sll2Frame(proto uint16) []byte {
	f := be.AppendUint16(nil, proto)
	return append(append(f, make([]byte, 18)...), payload(16)...)
}
