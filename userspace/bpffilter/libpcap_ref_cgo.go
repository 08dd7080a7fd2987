//go:build cgo && linux

package bpffilter

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

// nfm_offline_filter runs insns on a packet with libpcap's own interpreter,
// exactly as an offline handle does after pcap_setfilter.
static int nfm_offline_filter(const struct bpf_insn *insns, u_int n,
    const u_char *data, bpf_u_int32 caplen, bpf_u_int32 wirelen) {
	struct bpf_program prog;
	struct pcap_pkthdr hdr;
	static const u_char empty[1];
	prog.bf_len = n;
	prog.bf_insns = (struct bpf_insn *)insns;
	memset(&hdr, 0, sizeof hdr);
	hdr.caplen = caplen;
	hdr.len = wirelen;
	return pcap_offline_filter(&prog, &hdr, data != NULL ? data : empty);
}
*/
import "C"

import "unsafe"

// offlineFilterC runs ins on data with libpcap's pcap_offline_filter and
// returns its result. It is the reference the tests compare Match with;
// ins must be a program libpcap can run safely (validated, and without
// backward jumps: libpcap 1.10 does not bound loops).
func offlineFilterC(ins []Instruction, data []byte, wirelen uint32) int {
	if len(ins) == 0 {
		return 0
	}
	cins := (*C.struct_bpf_insn)(C.malloc(C.size_t(len(ins)) * C.size_t(unsafe.Sizeof(C.struct_bpf_insn{}))))
	defer C.free(unsafe.Pointer(cins))
	raw := unsafe.Slice(cins, len(ins))
	for i, in := range ins {
		raw[i] = C.struct_bpf_insn{code: C.u_short(in.Op), jt: C.u_char(in.Jt), jf: C.u_char(in.Jf), k: C.bpf_u_int32(in.K)}
	}
	var ptr *C.u_char
	if len(data) > 0 {
		ptr = (*C.u_char)(unsafe.Pointer(&data[0]))
	}
	return int(C.nfm_offline_filter(cins, C.u_int(len(ins)), ptr, C.bpf_u_int32(len(data)), C.bpf_u_int32(wirelen)))
}
