package pcapreplay

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Classic pcap magic numbers, as read in the file's own byte order.
const (
	magicMicro     = 0xa1b2c3d4 // TCPDUMP_MAGIC
	magicNano      = 0xa1b23c4d // NSEC_TCPDUMP_MAGIC
	magicKuznetzov = 0xa1b2cd34 // KUZNETZOV_TCPDUMP_MAGIC
)

const (
	pcapFileHeaderLen = 24
	pcapRecordLen     = 16 // struct pcap_sf_pkthdr
	pcapPatchedLen    = 24 // struct pcap_sf_patched_pkthdr (Kuznetzov)
)

// How a file's caplen and len record fields relate (libpcap's
// lengths_swapped).
const (
	lengthsNotSwapped = iota
	lengthsMaybeSwapped
	lengthsSwapped
)

// pcapFile decodes the records of a classic pcap file.
type pcapFile struct {
	in       *input
	order    binary.ByteOrder
	swapped  bool // big-endian file, the non-native order of libpcap's hosts
	nano     bool
	recLen   int
	snap     uint32 // sanitised snapshot length
	maxCap   uint32 // libpcap's max_snaplen_for_dlt
	lengths  int
	linkType int
	resync   bool   // see [Options].Resync
	good     bool   // a record was read, and lastSec is its time field
	lastSec  uint32 // raw time field of the last good record
}

// isPcapMagic reports whether the first four bytes b of a file are a
// classic pcap magic and in which byte order.
func isPcapMagic(b []byte) (binary.ByteOrder, bool) {
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch o.Uint32(b) {
		case magicMicro, magicNano, magicKuznetzov:
			return o, true
		}
	}
	return nil, false
}

// openPcap validates the file header like libpcap's pcap_check_header.
func openPcap(in *input, order binary.ByteOrder) (*pcapFile, error) {
	h, err := in.peek(pcapFileHeaderLen)
	if err != nil {
		return nil, shortHeader("pcap file header", len(h), pcapFileHeaderLen, err)
	}
	in.discard(pcapFileHeaderLen)
	magic := order.Uint32(h[0:4])
	major, minor := order.Uint16(h[4:6]), order.Uint16(h[6:8])
	snap := order.Uint32(h[16:20])
	lt := order.Uint32(h[20:24])
	if major < 2 {
		return nil, fmt.Errorf("%w: pcap version %d.%d is too old", ErrUnsupported, major, minor)
	}
	if !(major == 2 && minor <= 4) && !(major == 543 && minor == 0) {
		return nil, fmt.Errorf("%w: pcap version %d.%d", ErrUnsupported, major, minor)
	}
	f := &pcapFile{
		in:       in,
		order:    order,
		swapped:  order == binary.BigEndian,
		nano:     magic == magicNano,
		recLen:   pcapRecordLen,
		linkType: LinkTypeToDLT(int(lt & 0x03ffffff)), // LT_LINKTYPE
	}
	f.snap = adjustSnapLen(f.linkType, snap)
	f.maxCap = maxSnapLenForDLT(f.linkType)
	switch {
	case major == 543, minor < 3:
		f.lengths = lengthsSwapped
	case minor == 3:
		f.lengths = lengthsMaybeSwapped
	}
	if magic == magicKuznetzov {
		f.recLen = pcapPatchedLen
		if f.linkType == dltEN10MB {
			// Possibly a cooked capture with a faked Ethernet header.
			f.snap = min(f.snap, math.MaxInt32-14) + 14
		}
	}
	return f, nil
}

// next decodes the next record into p.
func (f *pcapFile) next(p *Packet) error {
	off := f.in.offset()
	h, err := f.in.peek(f.recLen)
	if err != nil {
		if len(h) == 0 && err == io.EOF {
			return io.EOF
		}
		return fileEnded(off, shortHeader("record header", len(h), f.recLen, err))
	}
	o := f.order
	sec, usec := int64(int32(o.Uint32(h[0:4]))), int64(int32(o.Uint32(h[4:8])))
	if f.swapped {
		// libpcap's SWAPLONG yields an unsigned int, so the timestamps of
		// files in the non-native (big-endian) byte order are unsigned.
		sec, usec = int64(o.Uint32(h[0:4])), int64(o.Uint32(h[4:8]))
	}
	capLen, wireLen := o.Uint32(h[8:12]), o.Uint32(h[12:16])
	f.in.discard(f.recLen)
	if f.lengths == lengthsSwapped || (f.lengths == lengthsMaybeSwapped && capLen > wireLen) {
		capLen, wireLen = wireLen, capLen
	}
	if capLen > f.maxCap {
		// libpcap consumed only the record header and goes on from there.
		if f.resync {
			f.resyncPcap()
		}
		return &ReadError{Offset: off, more: true,
			Err: fmt.Errorf("%w: %d bytes, maximum %d", ErrCapLen, capLen, f.maxCap)}
	}
	data, err := f.in.peek(int(capLen))
	if err != nil {
		return fileEnded(off, shortData(capLen, len(data), err))
	}
	f.in.discard(int(capLen))
	if capLen > f.snap {
		// libpcap reads the first snaplen bytes and discards the rest.
		capLen = f.snap
		data = data[:capLen]
	}
	if f.swapped {
		fixSwappedData(f.linkType, wireLen, data)
	}
	f.good, f.lastSec = true, o.Uint32(h[0:4])
	p.Sec = sec
	p.Usec = usec
	if f.nano {
		p.Usec /= 1000
	}
	p.CapLen = capLen
	p.WireLen = wireLen
	p.LinkType = f.linkType
	p.Offset = off
	p.Data = data
	return nil
}

func (f *pcapFile) dlt() int        { return f.linkType }
func (f *pcapFile) snapLen() uint32 { return f.snap }
