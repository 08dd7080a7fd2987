// Package bpffilter implements NFStream's bpf_filter parameter for offline
// captures.
//
// NFStream applies its filter with pcap_setfilter on the offline handle, so
// libpcap runs the compiled classic BPF program (bpf_filter.c) on every
// record and rejected packets never reach the meter. This package does the
// same in two steps:
//
//   - [Compile] turns a libpcap filter expression ("tcp and host 1.2.3.4",
//     "vlan and udp", "src port 52066 or dst port 52066", ...) into a classic
//     BPF program with the system libpcap (cgo: pcap_open_dead +
//     pcap_compile with optimisation on and netmask 0xFFFFFF00, the values
//     NFStream uses). Without cgo, or off Linux, Compile fails with an error
//     wrapping [ErrUnavailable], except for the empty expression, which never
//     needs libpcap.
//   - [Filter.Match] runs the program on a packet with a pure-Go interpreter
//     that mirrors libpcap's userland interpreter instruction for
//     instruction. It does not allocate, never panics and always terminates.
//
// # Differences from libpcap
//
// The interpreter follows the hardened interpreter of current libpcap:
// loads past the captured length, division or modulo by a zero X and
// out-of-range jumps return 0 (reject); shifts by X >= 32 yield 0 (so do
// Go shifts, no special case needed); the scratch memory starts zeroed; at
// most 64 backward jumps (libpcap only emits them for "protochain") are
// taken per packet before the packet is rejected. Linux ancillary loads
// (SKF_AD_OFF+...) are never generated for an offline handle; if present
// they read past the packet and return 0, as in libpcap without aux data.
//
// On the programs pcap_compile produces the result equals that of the
// system's libpcap 1.10 pcap_offline_filter (checked on every packet of the
// conformance captures and by fuzzing). The only known divergences are on
// programs pcap_compile does not produce or on pathological packets:
// libpcap 1.10 reads uninitialised scratch memory when a program loads a
// cell before storing it, and it loops forever under "protochain" on some
// crafted IPv6 extension-header chains (an AH header whose length field
// points back at itself hangs tcpdump 4.99/libpcap 1.10.3), where this
// package rejects the packet after 64 backward jumps.
//
// [FromInstructions] validates like current libpcap's bpf_validate: every
// opcode must be one the interpreter implements (libpcap 1.10's validator
// accepts a few on which its interpreter aborts), scratch memory indices
// are below 16, constant divisors are non-zero, constant shifts are below
// 32, jumps stay inside the program, "ja" never jumps to itself and the
// last instruction is a return.
package bpffilter
