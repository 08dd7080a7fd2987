package afpacket

import (
	"encoding/binary"
	"fmt"
)

// Layout of the TPACKET_V3 ring (linux/if_packet.h). Every field is in the
// host's byte order.
const (
	// struct tpacket_block_desc with its tpacket_hdr_v1.
	blockHdrLen      = 48
	blockStatusOff   = 8  // block_status
	blockNumPktsOff  = 12 // num_pkts
	blockFirstPktOff = 16 // offset_to_first_pkt

	// struct tpacket3_hdr, then struct sockaddr_ll at TPACKET_ALIGN(48).
	frameHdrLen    = 48
	frameHdrRoom   = frameHdrLen + 20
	frameNextOff   = 0                // tp_next_offset
	frameSecOff    = 4                // tp_sec
	frameNsecOff   = 8                // tp_nsec
	frameSnapOff   = 12               // tp_snaplen
	frameLenOff    = 16               // tp_len
	frameStatusOff = 20               // tp_status
	frameMacOff    = 24               // tp_mac (u16)
	frameTCIOff    = 32               // hv1.tp_vlan_tci
	frameTPIDOff   = 36               // hv1.tp_vlan_tpid (u16)
	framePktType   = frameHdrLen + 10 // sockaddr_ll.sll_pkttype

	vlanTagLen = 4
	macAddrs   = 12 // destination and source MAC: the VLAN tag goes after them

	statusKernel        = 0    // TP_STATUS_KERNEL
	statusUser          = 1    // TP_STATUS_USER
	statusVLANValid     = 0x10 // TP_STATUS_VLAN_VALID
	statusVLANTPIDValid = 0x40 // TP_STATUS_VLAN_TPID_VALID
	ethPVLAN            = 0x8100
	pktOutgoing         = 4 // PACKET_OUTGOING
)

var ne = binary.NativeEndian

// frame is one frame of a block, as libpcap would deliver it.
type frame struct {
	sec, nsec uint32
	wireLen   uint32 // tp_len, plus the VLAN tag when it was put back
	pktType   uint8  // sll_pkttype
	data      []byte // aliases the block
}

// blockReader walks the frames of one block that the kernel handed over.
// It checks every offset and length against the block, so that a corrupt
// header becomes an ErrCorruptRing error rather than a fault.
type blockReader struct {
	blk     []byte
	next    int    // offset of the next frame header
	left    uint32 // frames not yet read
	idx     uint32 // frames read
	snaplen uint32
	vlan    bool // put VLAN tags back (Ethernet)
}

// reset starts reading blk.
func (r *blockReader) reset(blk []byte) error {
	r.blk, r.idx = blk, 0
	if len(blk) < blockHdrLen {
		return fmt.Errorf("%w: %d-byte block", ErrCorruptRing, len(blk))
	}
	r.left = ne.Uint32(blk[blockNumPktsOff:])
	first := ne.Uint32(blk[blockFirstPktOff:])
	if r.left > 0 && (first < blockHdrLen || uint64(first)+frameHdrRoom > uint64(len(blk))) {
		return fmt.Errorf("%w: first frame at offset %d of a %d-byte block", ErrCorruptRing, first, len(blk))
	}
	r.next = int(first)
	return nil
}

// read decodes the next frame into f. The caller checks r.left > 0.
// Putting a VLAN tag back writes into the block, in front of the frame, in
// the room PACKET_RESERVE keeps there.
func (r *blockReader) read(f *frame) error {
	b, off := r.blk, r.next
	if off < 0 || off > len(b)-frameHdrRoom {
		return fmt.Errorf("%w: frame %d at offset %d of a %d-byte block", ErrCorruptRing, r.idx, off, len(b))
	}
	h := b[off : off+frameHdrRoom]
	snap := ne.Uint32(h[frameSnapOff:])
	mac := int(ne.Uint16(h[frameMacOff:]))
	if mac < frameHdrRoom || uint64(off)+uint64(mac)+uint64(snap) > uint64(len(b)) {
		return fmt.Errorf("%w: frame %d at offset %d: %d bytes at %d overrun the %d-byte block", ErrCorruptRing, r.idx, off, snap, mac, len(b))
	}
	r.left--
	r.idx++
	if r.left > 0 {
		n := ne.Uint32(h[frameNextOff:])
		if n < frameHdrRoom || uint64(off)+uint64(n) > uint64(len(b)) {
			return fmt.Errorf("%w: frame %d at offset %d: next frame %d bytes further in a %d-byte block", ErrCorruptRing, r.idx-1, off, n, len(b))
		}
		r.next = off + int(n)
	}
	start, caplen := off+mac, snap
	f.sec = ne.Uint32(h[frameSecOff:])
	f.nsec = ne.Uint32(h[frameNsecOff:])
	f.wireLen = ne.Uint32(h[frameLenOff:])
	f.pktType = h[framePktType]
	status := ne.Uint32(h[frameStatusOff:])
	tci := ne.Uint32(h[frameTCIOff:])
	// libpcap's VLAN_VALID and VLAN_TPID, and its test on the length.
	if r.vlan && (tci != 0 || status&statusVLANValid != 0) && snap >= macAddrs {
		if mac < frameHdrRoom+vlanTagLen {
			return fmt.Errorf("%w: frame %d at offset %d: no room for the vlan tag before offset %d", ErrCorruptRing, r.idx-1, off, mac)
		}
		tpid := ne.Uint16(h[frameTPIDOff:])
		if tpid == 0 && status&statusVLANTPIDValid == 0 {
			tpid = ethPVLAN
		}
		start -= vlanTagLen
		copy(b[start:start+macAddrs], b[start+vlanTagLen:start+vlanTagLen+macAddrs])
		binary.BigEndian.PutUint16(b[start+macAddrs:], tpid)
		binary.BigEndian.PutUint16(b[start+macAddrs+2:], uint16(tci))
		caplen += vlanTagLen
		f.wireLen += vlanTagLen
	}
	caplen = min(caplen, r.snaplen)
	end := start + int(caplen)
	f.data = b[start:end:end]
	return nil
}
