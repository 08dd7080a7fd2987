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
	"unsafe"

	"github.com/nfmeter/nfmeter/userspace/flows"
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
	if fl.st.done != 0 || fl.f == nil || len(l3) == 0 || fl.k > uint32(md.opts.NDissections) {
		return
	}
	C.nfm_packet(md.m, fl.f, &fl.st, (*C.uint8_t)(unsafe.Pointer(&l3[0])), C.uint16_t(len(l3)),
		C.uint64_t(timeMs), C.uint32_t(fl.k), C.uint32_t(md.opts.NDissections))
}

// Done reports whether detection is complete (no more packets needed).
func (fl *Flow) Done() bool { return fl.st.done != 0 }

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
	fl.Free()
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
		info.Name = compatName(info.Name)
		info.Confidence = compatConfidence(info.Confidence)
	}
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
