package pcapreplay

import "math"

// Link-layer types (DLT_ values on Linux) that get special treatment.
const (
	dltEN10MB  = 1   // DLT_EN10MB
	dltRaw     = 12  // DLT_RAW on Linux
	dltDBus    = 231 // DLT_DBUS
	dltUSBPcap = 249 // DLT_USBPCAP
	dltEBHSCR  = 279 // DLT_EBHSCR
)

// maxSnapLen is libpcap's MAXIMUM_SNAPLEN, the largest record accepted for
// ordinary link types.
const maxSnapLen = 262144

// LinkTypeToDLT maps a LINKTYPE_ value, as stored in capture files, to the
// DLT_ value libpcap reports for it on Linux (libpcap's linktype_to_dlt).
// LINKTYPE_RAW (101) becomes DLT_RAW (12); values that equal their DLT_
// are returned unchanged.
func LinkTypeToDLT(linkType int) int {
	switch linkType {
	case 100: // LINKTYPE_ATM_RFC1483
		return 11
	case 101: // LINKTYPE_RAW
		return dltRaw
	case 102: // LINKTYPE_SLIP_BSDOS
		return 15
	case 103: // LINKTYPE_PPP_BSDOS
		return 16
	case 106: // LINKTYPE_ATM_CLIP
		return 19
	}
	return linkType
}

// maxSnapLenForDLT is libpcap's max_snaplen_for_dlt: the largest captured
// length it accepts for a record of that link type.
func maxSnapLenForDLT(dlt int) uint32 {
	switch dlt {
	case dltDBus:
		return 128 << 20
	case dltEBHSCR:
		return 8 << 20
	case dltUSBPcap:
		return 1 << 20
	}
	return maxSnapLen
}

// adjustSnapLen is libpcap 1.10's pcap_adjust_snapshot: a snapshot length
// of 0, or one that does not fit in an int, is replaced by the link type's
// maximum. Other values, even above that maximum, are kept.
func adjustSnapLen(dlt int, snap uint32) uint32 {
	if snap == 0 || snap > math.MaxInt32 {
		return maxSnapLenForDLT(dlt)
	}
	return snap
}

// Link types whose pseudo-header libpcap byte-swaps in place.
const (
	dltLinuxSLL  = 113 // DLT_LINUX_SLL
	dltLinuxSLL2 = 276 // DLT_LINUX_SLL2
)

// fixSwappedData reproduces the part of libpcap's pcap_post_process that
// rewrites packet data read from a file in the non-native byte order:
// the CAN ID of SocketCAN frames in Linux cooked captures (protocols
// LINUX_SLL_P_CAN and LINUX_SLL_P_CANFD) is byte-swapped. The other
// rewrites (USB and NFLOG headers) concern link types NFStream ignores and
// are not reproduced.
func fixSwappedData(dlt int, wireLen uint32, data []byte) {
	var proto, canID int // offsets of the protocol field and the CAN ID
	switch dlt {
	case dltLinuxSLL:
		proto, canID = 14, 16
	case dltLinuxSLL2:
		proto, canID = 0, 20
	default:
		return
	}
	if len(data) < canID || wireLen < uint32(canID) {
		return
	}
	if p := uint16(data[proto])<<8 | uint16(data[proto+1]); p != 0x000c && p != 0x000d {
		return
	}
	if len(data) < canID+4 || wireLen < uint32(canID+4) {
		return
	}
	id := data[canID : canID+4]
	id[0], id[1], id[2], id[3] = id[3], id[2], id[1], id[0]
}
