//go:build cgo && linux

package bpffilter

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <pcap/pcap.h>
*/
import "C"

import (
	"sync"
	"unsafe"
)

// compileMu serialises pcap_compile. libpcap before 1.8 kept the parser
// and optimiser state in globals and is not safe for concurrent
// compilation; compiling a filter is rare, so one package-level lock is the
// cheapest way to be correct with every libpcap.
var compileMu sync.Mutex

// compileProgram compiles expr with libpcap for a dead handle of the given
// DLT and snapshot length and returns a copy of the program.
func compileProgram(expr string, dlt int, snapLen int) ([]Instruction, error) {
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))

	compileMu.Lock()
	defer compileMu.Unlock()

	p := C.pcap_open_dead(C.int(dlt), C.int(snapLen))
	if p == nil {
		return nil, &compileError{expr: expr, msg: "pcap_open_dead failed", err: ErrCompile}
	}
	defer C.pcap_close(p)

	var prog C.struct_bpf_program
	if C.pcap_compile(p, &prog, cexpr, 1, C.bpf_u_int32(netmask)) != 0 {
		return nil, &compileError{expr: expr, msg: C.GoString(C.pcap_geterr(p)), err: ErrCompile}
	}
	defer C.pcap_freecode(&prog)

	n := int(prog.bf_len)
	if n == 0 || prog.bf_insns == nil {
		return nil, &compileError{expr: expr, msg: "libpcap returned an empty program", err: ErrCompile}
	}
	raw := unsafe.Slice(prog.bf_insns, n)
	ins := make([]Instruction, n)
	for i := range raw {
		ins[i] = Instruction{Op: uint16(raw[i].code), Jt: uint8(raw[i].jt), Jf: uint8(raw[i].jf), K: uint32(raw[i].k)}
	}
	return ins, nil
}
