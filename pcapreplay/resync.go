package pcapreplay

import "encoding/binary"

// Resynchronisation after a header with an impossible length.
//
// libpcap consumes such a header (a pcap record header, or the first 8
// bytes of a pcapng block) and reads on from there, taking the record's
// data for headers: it loses step, and what follows is garbage records,
// skipped garbage blocks or a truncation error far from the damage. With
// [Options].Resync the reader instead looks ahead for the next plausible
// header, confirmed by the one after it (pcap) or by the block's trailer
// (pcapng), and goes on from there. Only damaged files read differently.

// resyncScan bounds how far ahead of a bad header the next record is
// looked for: a record's data is at most this long for every link type
// NFStream meters (libpcap's MAXIMUM_SNAPLEN).
const resyncScan = maxSnapLen

// resyncDay bounds how far a candidate pcap record's time may be from the
// last good record's, in seconds.
const resyncDay = 86400

// resyncPcap skips to the next plausible record after a bad header, whose
// data starts at the current offset. When none is found in the scanned
// window, it consumes the window (the whole rest of the file when it is
// shorter), and reading goes on from there.
func (f *pcapFile) resyncPcap() {
	w, err := f.in.peek(2*f.recLen + 2*resyncScan)
	eof := err != nil
	for i := 0; i <= resyncScan && i+f.recLen <= len(w); i++ {
		capLen, ok := f.plausible(w[i:])
		if !ok {
			continue
		}
		end := i + f.recLen + int(capLen)
		if end == len(w) && eof {
			f.in.discard(i)
			return
		}
		if end+f.recLen <= len(w) {
			if _, ok := f.plausible(w[end:]); ok {
				f.in.discard(i)
				return
			}
		}
	}
	f.in.discard(min(len(w), resyncScan+1))
}

// plausible reports whether h starts with a record header that a sane
// capture could hold after the last good record, and its captured length.
func (f *pcapFile) plausible(h []byte) (uint32, bool) {
	if len(h) < f.recLen {
		return 0, false
	}
	o := f.order
	sec, frac := o.Uint32(h[0:4]), o.Uint32(h[4:8])
	capLen, wireLen := o.Uint32(h[8:12]), o.Uint32(h[12:16])
	if f.lengths == lengthsSwapped || (f.lengths == lengthsMaybeSwapped && capLen > wireLen) {
		capLen, wireLen = wireLen, capLen
	}
	limit := uint32(1000000)
	if f.nano {
		limit = 1000000000
	}
	switch {
	case capLen > f.maxCap, capLen > wireLen, wireLen == 0, frac >= limit:
		return 0, false
	case f.good && absDiff(int64(sec), int64(f.lastSec)) > resyncDay:
		return 0, false
	}
	return capLen, true
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// resyncPcapng skips to the next block whose length field is valid and
// equal to its trailer, after a block header with an impossible length
// (of which 8 bytes were consumed; blocks are 4-byte aligned). When none
// is found within maxBlock bytes, it consumes what it scanned.
func (f *pcapngFile) resyncPcapng() {
	w, err := f.in.peek(int(f.maxBlock) + 4)
	_ = err // a short window is the end of the file
	for i := 0; i+12 <= len(w); i += 4 {
		total := f.order.Uint32(w[i+4 : i+8])
		if total < 12 || total%4 != 0 || total > f.maxBlock || i+int(total) > len(w) {
			continue
		}
		if f.order.Uint32(w[i+int(total)-4:]) == total && knownBlock(f.order, w[i:]) {
			f.in.discard(i)
			return
		}
	}
	f.in.discard(len(w) &^ 3)
}

// knownBlock reports whether b starts with a block type this reader
// handles; resynchronisation only stops at those.
func knownBlock(o binary.ByteOrder, b []byte) bool {
	switch o.Uint32(b[0:4]) {
	case blockSHB, blockIDB, blockPB, blockSPB, blockEPB:
		return true
	}
	return false
}
