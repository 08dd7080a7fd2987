//go:build cgo && linux

package ndpi

/*
#include <stdlib.h>
#include <malloc.h>
#include "shim.h"

static size_t nfm_c_heap(void) { struct mallinfo2 mi = mallinfo2(); return mi.uordblks + mi.hblkhd; }
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/quic"
)

// Module is one nDPI detection module and the flows classified with it.
type Module struct {
	m    unsafe.Pointer
	opts Options
	info C.nfm_info
}

// Flow is one flow's nDPI state. Its C memory is released by
// [Module.Finish] (or [Flow.Free] for a flow abandoned without finishing).
type Flow struct {
	md *Module
	f  unsafe.Pointer
	st C.nfm_state
	k  uint32
	q  *quic.Assembler // QUIC ClientHello reassembly (nDPI 4.2 lacks it)
}

// New creates a detection module with every protocol enabled, as NFStream
// configures it.
func New(opts Options) (*Module, error) {
	if opts.NDissections < 1 || opts.NDissections > 255 {
		return nil, fmt.Errorf("ndpi: n_dissections %d out of range 1..255", opts.NDissections)
	}
	var compiled, library C.uint32_t
	C.nfm_sizes(&compiled, &library)
	if compiled != library {
		return nil, fmt.Errorf("ndpi: flow struct is %d bytes in the headers but %d in libndpi %s: headers and library differ", compiled, library, Revision())
	}
	m := C.nfm_module_new()
	if m == nil {
		return nil, fmt.Errorf("ndpi: init detection module failed")
	}
	return &Module{m: m, opts: opts}, nil
}

// Revision returns the nDPI library version.
func Revision() string { return C.GoString(C.nfm_revision()) }

// Available reports whether nDPI is built in.
func Available() bool { return true }

// Close frees the module. Flows still unfinished must be freed first.
func (md *Module) Close() error {
	if md.m != nil {
		C.nfm_module_free(md.m)
		md.m = nil
	}
	return nil
}

// NewFlow allocates the nDPI state of a new flow.
func (md *Module) NewFlow() *Flow {
	return &Flow{md: md, f: C.nfm_flow_new()}
}

// Packet gives the flow's next packet (its L3 bytes and clamped time) to
// nDPI following NFStream's rules: only while detection is not complete
// and never after the NDissections-th packet. l3 is not retained.
func (fl *Flow) Packet(l3 []byte, timeMs uint64) {
	md := fl.md
	fl.k++
	if fl.f == nil || len(l3) == 0 || fl.k > uint32(md.opts.NDissections) {
		return
	}
	if !md.opts.RawLabels {
		fl.quicPacket(l3)
	}
	if fl.st.done != 0 {
		return
	}
	C.nfm_packet(md.m, fl.f, &fl.st, (*C.uint8_t)(unsafe.Pointer(&l3[0])), C.uint16_t(len(l3)),
		C.uint64_t(timeMs), C.uint32_t(fl.k), C.uint32_t(md.opts.NDissections))
}

// Done reports whether detection is complete (no more packets needed).
func (fl *Flow) Done() bool { return fl.st.done != 0 && (fl.q == nil || !fl.q.Pending()) }

// quicPacket feeds UDP payloads to the QUIC ClientHello reassembly.
func (fl *Flow) quicPacket(l3 []byte) {
	var udp []byte
	switch l3[0] >> 4 {
	case 4:
		if ihl := int(l3[0]&0x0f) * 4; len(l3) >= ihl+8 && l3[9] == 17 {
			udp = l3[ihl:]
		}
	case 6:
		if len(l3) >= 48 && l3[6] == 17 {
			udp = l3[40:]
		}
	}
	if len(udp) < 9 {
		return
	}
	payload := udp[8:]
	if fl.q == nil {
		// Only long-header packets can start the reassembly.
		if payload[0]&0xc0 != 0xc0 {
			return
		}
		fl.q = &quic.Assembler{}
	}
	if fl.q.ClientHello() == nil {
		fl.q.AddDatagram(payload)
	}
}

// quicFill completes a QUIC flow's fields from the reassembled ClientHello
// when nDPI 4.2 could not read it (server name, JA3, user agent and the
// application the server name maps to).
func (fl *Flow) quicFill(info *flows.AppInfo) {
	if fl.q == nil || info.RequestedServerName != "" || !(info.Name == "QUIC" || strings.HasPrefix(info.Name, "QUIC.")) {
		return
	}
	ch := fl.q.ClientHello()
	if ch == nil {
		return
	}
	h, err := quic.ParseClientHello(ch)
	if err != nil || h.ServerName == "" {
		return
	}
	host := C.CString(h.ServerName)
	defer C.free(unsafe.Pointer(host))
	var out C.nfm_info
	C.nfm_host_label(fl.md.m, C.uint16_t(quicProtocolID), host, &out)
	info.Name = C.GoString(&out.name[0])
	info.CategoryName = C.GoString(&out.category[0])
	info.RequestedServerName = validUTF8(h.ServerName)
	info.ClientFingerprint = h.JA3
	info.UserAgent = validUTF8(h.UserAgent)
}

// quicProtocolID is nDPI's NDPI_PROTOCOL_QUIC.
const quicProtocolID = 188

// Finish gives up on detection if NFStream would, copies the fields out
// and frees the flow's nDPI memory.
func (fl *Flow) Finish() flows.AppInfo {
	md := fl.md
	if fl.f == nil {
		return flows.AppInfo{Name: "Unknown", CategoryName: "Unspecified"}
	}
	compat := C.int(1)
	if md.opts.RawLabels {
		compat = 0
	}
	C.nfm_finish(md.m, fl.f, &fl.st, compat, &md.info)
	in := &md.info
	info := flows.AppInfo{
		Name:                validUTF8(C.GoString(&in.name[0])),
		CategoryName:        validUTF8(C.GoString(&in.category[0])),
		IsGuessed:           int(in.guessed),
		Confidence:          int(in.confidence),
		RequestedServerName: validUTF8(C.GoString(&in.server_name[0])),
		ClientFingerprint:   validUTF8(C.GoString(&in.client_fp[0])),
		ServerFingerprint:   validUTF8(C.GoString(&in.server_fp[0])),
		UserAgent:           validUTF8(C.GoString(&in.user_agent[0])),
		ContentType:         validUTF8(C.GoString(&in.content_type[0])),
	}
	if !md.opts.RawLabels {
		fl.quicFill(&info)
		info.Name = compatName(info.Name)
		info.Confidence = compatConfidence(info.Confidence)
	}
	fl.Free()
	return info
}

// Free releases the flow's nDPI memory without classifying it.
func (fl *Flow) Free() {
	if fl.f != nil {
		C.nfm_flow_free(fl.f)
		fl.f = nil
	}
}

// cHeapInUse returns the bytes the C allocator has handed out (glibc
// mallinfo2): nDPI's memory, for the leak tests.
func cHeapInUse() uint64 { return uint64(C.nfm_c_heap()) }
