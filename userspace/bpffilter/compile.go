package bpffilter

import (
	"fmt"
	"math"
	"strings"
)

// defaultSnapLen is libpcap's MAXIMUM_SNAPLEN, used when Compile is given a
// non-positive snapshot length (libpcap refuses to compile with 0: "snaplen
// of 0 rejects all packets").
const defaultSnapLen = 262144

// netmask is the netmask NFStream passes to pcap_compile; it only matters
// for "ip broadcast".
const netmask = 0xFFFFFF00

// Compile compiles a libpcap filter expression for the given link type and
// snapshot length, like pcap_compile(pcap_open_dead(linkType, snapLen),
// expr, optimize=1, netmask=0xFFFFFF00) as NFStream does on its offline
// handle.
//
// linkType is a libpcap DLT_ number (1 Ethernet, 0 NULL/loopback, 12 RAW,
// 113 Linux SLL, 9 PPP, 104 Cisco HDLC, 127 radiotap, ...). The LINKTYPE_
// values of a pcap file header that differ from their DLT_ value
// (101 RAW, 100 ATM RFC 1483, 102 SLIP BSD/OS, 103 PPP BSD/OS, 106 ATM CLIP)
// are translated first, as libpcap does when it opens a file. A
// non-positive snapLen means 262144.
//
// An empty (or blank) expression yields a Filter that accepts every packet
// (libpcap compiles it to "ret #snaplen"); it is built without libpcap, so
// it also works when the package is built without cgo.
//
// A rejected expression gives an error wrapping ErrCompile with libpcap's
// message: `compile bpf filter "my filter": syntax error`. Without cgo or
// off Linux any other expression gives an error wrapping ErrUnavailable.
func Compile(expr string, linkType int, snapLen int) (*Filter, error) {
	if snapLen <= 0 {
		snapLen = defaultSnapLen
	}
	if snapLen > math.MaxInt32 {
		snapLen = math.MaxInt32
	}
	if strings.TrimSpace(expr) == "" {
		return acceptAll(uint32(snapLen)), nil
	}
	if linkType < 0 || linkType > math.MaxInt32 {
		return nil, &compileError{expr: expr, msg: fmt.Sprintf("invalid link type %d", linkType), err: ErrCompile}
	}
	ins, err := compileProgram(expr, linkTypeToDLT(linkType), snapLen)
	if err != nil {
		return nil, err
	}
	f, err := FromInstructions(ins)
	if err != nil {
		// libpcap produced a program its own validator would reject.
		return nil, &compileError{expr: expr, msg: err.Error(), err: ErrCompile}
	}
	return f, nil
}

// linkTypeToDLT maps the pcap-file LINKTYPE_ values that are not equal to
// their DLT_ value (libpcap's linktype_to_dlt) and leaves the rest alone.
func linkTypeToDLT(linkType int) int {
	switch linkType {
	case 100: // LINKTYPE_ATM_RFC1483
		return 11 // DLT_ATM_RFC1483
	case 101: // LINKTYPE_RAW
		return 12 // DLT_RAW
	case 102: // LINKTYPE_SLIP_BSDOS
		return 15 // DLT_SLIP_BSDOS
	case 103: // LINKTYPE_PPP_BSDOS
		return 16 // DLT_PPP_BSDOS
	case 106: // LINKTYPE_ATM_CLIP
		return 19 // DLT_ATM_CLIP
	}
	return linkType
}

// compileError is the error Compile returns: its text is
// `compile bpf filter "<expr>": <libpcap message>` and it wraps err
// (ErrCompile or ErrUnavailable).
type compileError struct {
	expr string
	msg  string
	err  error
}

func (e *compileError) Error() string {
	return fmt.Sprintf("compile bpf filter %q: %s", e.expr, e.msg)
}

func (e *compileError) Unwrap() error { return e.err }
